import { renderHaproxyConfig, renderHaproxyErrorPage, type HaproxyConfig } from "../../lib";

const base: HaproxyConfig = {
  maxconn: 4000,
  httpPort: 80,
  health: { path: "/ping", interMs: 5000, fastInterMs: 1000, fall: 2, rise: 1 },
  timeouts: { connect: 2000, check: 2000, client: 60000, queue: 30000, httpRequest: 10000 },
  statsPort: 8404,
  statsUser: "admin",
  statsPasswordEnv: "HAPROXY_STATS_PASSWORD",
  errorFile503: "/usr/local/etc/haproxy/errors/503.http",
  backends: [
    { name: "static", pathPrefixes: ["/static"], balance: "leastconn", maxqueue: 64, serverTimeoutMs: 75000, servers: [{ name: "web-1", address: "10.0.1.10", port: 80, maxconn: 255, backup: false }] },
    {
      name: "app",
      pathPrefixes: [],
      balance: "source",
      maxqueue: 64,
      serverTimeoutMs: 75000,
      servers: [
        { name: "web-1", address: "10.0.1.10", port: 80, maxconn: 16, backup: false },
        { name: "spare-1", address: "10.0.2.10", port: 80, maxconn: 16, backup: true },
      ],
    },
  ],
};

test("routes by path prefix, default backend last", () => {
  const cfg = renderHaproxyConfig(base);
  expect(cfg).toContain("acl route_static path_beg /static");
  expect(cfg).toContain("use_backend static if route_static");
  expect(cfg).toContain("default_backend app");
});

test("servers carry maxconn, backups are marked, health checks as in the CERN setup", () => {
  const cfg = renderHaproxyConfig(base);
  expect(cfg).toContain("server web-1 10.0.1.10:80 maxconn 16\n");
  expect(cfg).toContain("server spare-1 10.0.2.10:80 maxconn 16 backup");
  expect(cfg).toContain("default-server check inter 5000 fastinter 1000 fall 2 rise 1 maxqueue 64");
  expect(cfg).toContain("timeout check 2000ms");
  expect(cfg).toContain("http-check send meth HEAD uri /ping ver HTTP/1.1 hdr Host localhost");
  expect(cfg).toContain("option forwardfor except 127.0.0.0/8");
});

test("source balancing hashes consistently", () => {
  expect(renderHaproxyConfig(base)).toMatch(/backend app\n    balance source\n    hash-type consistent/);
});

test("a request id is made only when the client sent none, and logged", () => {
  const cfg = renderHaproxyConfig(base);
  expect(cfg).toContain("http-request set-header X-Request-ID %[unique-id] unless { req.hdr(X-Request-ID) -m found }");
  expect(cfg).toContain("request_id=%[capture.req.hdr(0)]");
});

test("the stats page needs the password from the environment", () => {
  expect(renderHaproxyConfig(base)).toContain('stats auth admin:"${HAPROXY_STATS_PASSWORD}"');
});

test("HTTPS: TLS frontend and a redirect from HTTP", () => {
  const cfg = renderHaproxyConfig({ ...base, https: { port: 443, certificatePath: "/c/site.pem", redirectHttp: true } });
  expect(cfg).toContain("bind :443 ssl crt /c/site.pem alpn h2,http/1.1");
  expect(cfg).toContain("http-request redirect scheme https code 301");
  expect(cfg.match(/default_backend app/g)).toHaveLength(1);
});

test("the 503 page is a whole HTTP response", () => {
  const page = renderHaproxyErrorPage("<p>down</p>");
  expect(page.startsWith("HTTP/1.0 503 Service Unavailable\r\n")).toBe(true);
  expect(page).toContain("\r\n\r\n<p>down</p>\n");
});
