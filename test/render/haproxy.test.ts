import { TLS_PROFILES, hstsHeaderValue, renderHaproxyConfig, renderHaproxyErrorPage, resolveTlsProfile, type HaproxyConfig } from "../../lib";

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
  expect(cfg).toContain("default-server check inter 5000 fastinter 1000 fall 2 rise 1 maxqueue 64 observe layer4 error-limit 10 on-error mark-down");
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

const https = (tls = resolveTlsProfile("intermediate"), hsts = "max-age=63072000; includeSubDomains") =>
  ({ port: 443, certificatePath: "/c/site.pem", redirectHttp: true, publicPort: 443, tls, hsts }) as const;

test("HTTPS: TLS frontend and a 308 redirect from HTTP", () => {
  const cfg = renderHaproxyConfig({ ...base, https: https() });
  expect(cfg).toContain("bind :443 ssl crt /c/site.pem alpn h2,http/1.1");
  expect(cfg).toContain('http-request redirect location "https://%[req.hdr(host),regsub(:[0-9]+\\$,)]%[pathq]" code 308');
  expect(cfg).not.toContain("code 301");
  expect(cfg).toContain('http-after-response set-header Strict-Transport-Security "max-age=63072000; includeSubDomains"');
  expect(cfg.match(/default_backend app/g)).toHaveLength(1);
});

test("HTTPS on another port than 443: the redirect names it, and drops the HTTP port of the Host header", () => {
  const cfg = renderHaproxyConfig({ ...base, https: { ...https(), publicPort: 8443 } });
  expect(cfg).toContain('http-request redirect location "https://%[req.hdr(host),regsub(:[0-9]+\\$,)]:8443%[pathq]" code 308');
  expect(cfg).not.toContain("redirect scheme");
});

test("HTTPS: Mozilla's intermediate profile (6.0) in the global section", () => {
  const global = renderHaproxyConfig({ ...base, https: https() }).split("\n\n")[0];
  expect(global).toContain("# TLS of every ssl bind line: Mozilla's Server Side TLS guidelines 6.0, intermediate profile.");
  expect(global).toContain("ssl-default-bind-curves X25519:prime256v1:secp384r1\n");
  expect(global).toContain(
    "ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305\n",
  );
  expect(global).toContain("ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n");
  expect(global).toContain("ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets\n");
  expect(global).toContain("ssl-load-extra-files key");
});

test("HTTPS: the modern profile is TLS 1.3 only, without TLS 1.2 ciphers", () => {
  const global = renderHaproxyConfig({ ...base, https: https(TLS_PROFILES.modern) }).split("\n\n")[0];
  expect(global).toContain("ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.3 no-tls-tickets\n");
  expect(global).not.toMatch(/ssl-default-bind-ciphers /);
  expect(global).toContain("ssl-default-bind-curves X25519:prime256v1:secp384r1\n");
});

test("HTTPS: a custom profile renders its own lists, a TLS 1.2 ceiling and server cipher order", () => {
  const tls = resolveTlsProfile({ protocols: ["TLSv1.2"], ciphers: ["ECDHE-RSA-AES256-GCM-SHA384"], ciphersuites: [], groups: ["secp384r1"], preferClientCiphers: false });
  const global = renderHaproxyConfig({ ...base, https: https(tls) }).split("\n\n")[0];
  expect(global).toContain("# TLS of every ssl bind line: a custom TLS profile.");
  expect(global).toContain("ssl-default-bind-curves secp384r1\n");
  expect(global).toContain("ssl-default-bind-ciphers ECDHE-RSA-AES256-GCM-SHA384\n");
  expect(global).not.toContain("ssl-default-bind-ciphersuites");
  expect(global).toContain("ssl-default-bind-options ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2 no-tls-tickets\n");
});

test("HSTS: the profile's two years with includeSubDomains; preload only when asked", () => {
  const tls = TLS_PROFILES.intermediate;
  expect(hstsHeaderValue(tls, { includeSubDomains: true, preload: false })).toBe("max-age=63072000; includeSubDomains");
  expect(hstsHeaderValue(tls, { includeSubDomains: true, preload: true })).toBe("max-age=63072000; includeSubDomains; preload");
  expect(hstsHeaderValue(tls, { includeSubDomains: false, preload: false })).toBe("max-age=63072000");
});

test("without HTTPS the global section keeps its two earlier ssl lines and nothing of a profile", () => {
  const global = renderHaproxyConfig(base).split("\n\n")[0];
  expect(global.split("\n").filter((l) => l.includes("ssl"))).toEqual([
    "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
    "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
  ]);
  expect(renderHaproxyConfig(base)).not.toContain("Strict-Transport-Security");
});

test("the 503 page is a whole HTTP response", () => {
  const page = renderHaproxyErrorPage("<p>down</p>");
  expect(page.startsWith("HTTP/1.0 503 Service Unavailable\r\n")).toBe(true);
  expect(page).toContain("\r\n\r\n<p>down</p>\n");
});
