import { PropsError, WebTier, renderNginxConfig, type NginxConfig, type WebTierProps } from "../lib";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

const CONF = "/etc/nginx/nginx.conf";

function nginxConf(props: Partial<WebTierProps>): string {
  const stack = newStack();
  new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, ...props });
  return fileOf(stack, "web-1-nginx", CONF);
}

function problems(props: Partial<WebTierProps>): string {
  try {
    nginxConf(props);
  } catch (e) {
    expect(e).toBeInstanceOf(PropsError);
    expect((e as PropsError).message).toContain("[test/web] invalid props:");
    return (e as PropsError).problems.join("\n");
  }
  throw new Error("expected a PropsError");
}

/** The block of the location whose line is `line`, up to its closing brace at the same indent. */
function block(conf: string, line: string): string {
  const start = conf.indexOf(`${line}\n`);
  if (start < 0) throw new Error(`no ${line} in\n${conf}`);
  const indent = conf.slice(conf.lastIndexOf("\n", start) + 1, start);
  return conf.slice(start, conf.indexOf(`\n${indent}}`, start) + indent.length + 2);
}

test("gzip adds Vary: Accept-Encoding, so caches keep the compressed and the plain copies apart", () => {
  expect(nginxConf({})).toContain("gzip_proxied any;\n    # Caches keep the compressed and the plain copy apart (Vary: Accept-Encoding).\n    gzip_vary on;\n");
});

describe("upload routes match a prefix, one URL or a regex", () => {
  test("exact and regex routes stream like prefix ones; the regex is quoted so braces and semicolons stay in it", () => {
    const conf = nginxConf({
      uploadRoutes: [
        { path: "^/api/records/[^/]+/draft/files/[^/]{1,255}/content$", match: "regex", maxBodySize: "50g" },
        { path: "/api/import", match: "exact", maxBodySize: "1g" },
        { path: "/api/files", maxBodySize: "2g" },
      ],
    });
    const regex = block(conf, '        location ~ "^/api/records/[^/]+/draft/files/[^/]{1,255}/content$" {');
    expect(regex).toContain("client_max_body_size 50g;");
    expect(regex).toContain("uwsgi_request_buffering off;");
    expect(block(conf, "        location = /api/import {")).toContain("client_max_body_size 1g;");
    expect(block(conf, "        location /api/files {")).toContain("client_max_body_size 2g;");
    // nginx tries regexes in order: the streamed ones come before the other locations.
    expect(conf.indexOf("location ~ ")).toBeLessThan(conf.indexOf("        location / {"));
  });

  test("a quote or a backslash in a regex round-trips through nginx's quoting", () => {
    const conf = renderNginxConfig({ ...BASE, uploadRoutes: [{ path: '^/a\\.b"c$', match: "regex", maxBodySize: "1g", clientPauseSeconds: 30 }] });
    expect(conf).toContain('location ~ "^/a\\\\.b\\"c$" {');
  });

  test("refused: a line break in a regex, a prefix or exact path that is not a URL path, a second location with one path", () => {
    expect(problems({ uploadRoutes: [{ path: "^/a$\n}", match: "regex", maxBodySize: "1g" }] })).toMatch(/^uploadRoutes\.0\.path: must be a regex on one line/);
    expect(problems({ uploadRoutes: [{ path: "^/api/.*$", maxBodySize: "1g" }] })).toMatch(/^uploadRoutes\.0\.path: must be a URL path starting with '\/' \(for a pattern set match: "regex"\)/);
    expect(problems({ uploadRoutes: [{ path: "/api/x;", match: "exact", maxBodySize: "1g" }] })).toMatch(/^uploadRoutes\.0\.path: must be a URL path/);
    expect(problems({ uploadRoutes: [{ path: "/api", maxBodySize: "1g" }, { path: "/api/", maxBodySize: "2g" }] })).toMatch(/^uploadRoutes\.1\.path: prefix \/api\/ is also uploadRoutes\.0: nginx refuses two locations/);
    expect(problems({ uploadRoutes: [{ path: "/", maxBodySize: "1g" }] })).toMatch(/^uploadRoutes\.0\.path: prefix \/ is also the default location \//);
    // The same path with two matches is two locations, which nginx accepts.
    expect(() => nginxConf({ uploadRoutes: [{ path: "/api", maxBodySize: "1g" }, { path: "/api", match: "exact", maxBodySize: "2g" }] })).not.toThrow();
  });
});

describe("per-location caching and headers", () => {
  const hashed = [
    { path: "/static", serves: "static" as const, cache: { maxAge: "0", mustRevalidate: true } },
    { path: "/static/dist/", serves: "static" as const, cache: { maxAge: "1y", immutable: true } },
  ];

  test("hashed assets a year and immutable, the other static files revalidated; each repeats the request id", () => {
    const conf = nginxConf({ locations: hashed });
    const stat = block(conf, "        location /static/ {");
    expect(stat).not.toContain("expires");
    expect(stat).toContain('    add_header Cache-Control "max-age=0, must-revalidate";\n');
    const dist = block(conf, "            location /static/dist/ {");
    expect(dist).toContain('add_header Cache-Control "max-age=31536000, immutable";');
    expect(dist).toContain("add_header X-Request-ID $req_id always;");
    expect(dist).not.toContain("must-revalidate");
  });

  test("below the default static location (expires 1h), a location with a cache of its own turns expires off", () => {
    const conf = nginxConf({ locations: [hashed[1]] });
    expect(block(conf, "        location /static/ {")).toContain("expires 1h;");
    expect(block(conf, "            location /static/dist/ {")).toMatch(/^ +location \/static\/dist\/ \{\n +expires off;\n/);
  });

  test("a nested location with headers only keeps the static location's cache and headers", () => {
    const conf = nginxConf({
      locations: [
        { path: "/static", serves: "static", cache: { maxAge: "1h" }, headers: { "X-Content-Type-Options": "nosniff" } },
        { path: "\\.[0-9a-f]{12}\\.(css|js)$", match: "regex", serves: "static", headers: { "Access-Control-Allow-Origin": "*" } },
      ],
    });
    const nested = block(conf, '            location ~ "\\\\.[0-9a-f]{12}\\\\.(css|js)$" {');
    expect(nested).toContain('add_header X-Content-Type-Options "nosniff" always;');
    expect(nested).toContain('add_header Access-Control-Allow-Origin "*" always;');
    expect(nested).toContain('add_header Cache-Control "max-age=3600";');
  });

  test("app locations: headers and cache replace the app's; the location / sets the default location's", () => {
    const conf = nginxConf({
      locations: [
        { path: "/", headers: { "X-Frame-Options": "DENY" } },
        { path: "/api/", cache: { maxAge: "0", mustRevalidate: true }, headers: { "Content-Security-Policy": "default-src 'self'; img-src *" } },
      ],
    });
    const api = block(conf, "        location /api/ {");
    expect(api).toContain("uwsgi_hide_header Content-Security-Policy;\n");
    expect(api).toContain("uwsgi_hide_header Cache-Control;\n");
    expect(api).toContain('add_header Content-Security-Policy "default-src \'self\'; img-src *" always;');
    expect(api).toContain("uwsgi_pass app_server;");
    const root = block(conf, "        location / {");
    expect(root).toContain('add_header X-Frame-Options "DENY" always;');
    expect(root).toContain("uwsgi_hide_header X-Frame-Options;");
    expect(conf.match(/location \/ \{/g)).toHaveLength(1);
    const gunicorn = nginxConf({ server: "gunicorn", locations: [{ path: "/", headers: { "X-Frame-Options": "DENY" } }] });
    expect(block(gunicorn, "        location / {")).toContain("proxy_hide_header X-Frame-Options;");
  });

  test("refused: headers the library sets, values that leave their quotes, static paths outside the static location, empty locations", () => {
    expect(problems({ locations: [{ path: "/", headers: { "x-request-id": "a" } }] })).toMatch(/^locations\.0\.headers\.x-request-id: X-Request-ID is the request id, set on every response by the library/);
    expect(problems({ locations: [{ path: "/", headers: { "Cache-Control": "no-store" } }] })).toContain("Cache-Control is set from the location's cache by the library; set cache instead");
    expect(problems({ locations: [{ path: "/", headers: { "X-Session-ID": "x" } }] })).toContain("logged and hidden from clients");
    expect(problems({ locations: [{ path: "/", headers: { "X-A": 'a" always; add_header B "b' } }] })).toMatch(/^locations\.0\.headers\.X-A: must be printable ASCII on one line, without "/);
    expect(problems({ locations: [{ path: "/", headers: { "X-A": "$request_uri" } }] })).toContain("nginx reads $ as a variable");
    expect(problems({ locations: [{ path: "/", headers: { "X-A": "a\nb" } }] })).toContain("must be printable ASCII on one line");
    expect(problems({ locations: [{ path: "/", headers: { "X A": "a" } }] })).toContain('locations.0.headers: "X A" is not a header name');
    expect(problems({ locations: [{ path: "/media", serves: "static", cache: { maxAge: "1d" } }] })).toContain("locations.0.path: serves static files, so it must be staticUrlPath /static or below it (or a regex)");
    expect(problems({ locations: [{ path: "/static/x", cache: { maxAge: "1d" } }] })).toContain('locations.0.path: is under staticUrlPath /static: set serves: "static"');
    expect(problems({ locations: [{ path: "/api" }] })).toContain("locations.0: sets neither cache nor headers");
    expect(problems({ locations: [{ path: "/api", cache: { maxAge: "1 year" } }] })).toContain("locations.0.cache.maxAge: must be an nginx time");
    expect(problems({ uploadRoutes: [{ path: "/api", maxBodySize: "1g" }], locations: [{ path: "/api", cache: { maxAge: "0" } }] })).toContain("locations.0.path: prefix /api is also uploadRoutes.0");
  });
});

const BASE: NginxConfig = {
  workerProcesses: 2,
  workerConnections: 1024,
  nofile: 4096,
  upstream: { protocol: "uwsgi", address: "10.0.1.11", port: 8000, keepalive: 16 },
  staticUrlPath: "/static",
  staticRoot: "/srv/static",
  clientMaxBodySize: "10m",
  uploadRoutes: [],
  readTimeoutSeconds: 65,
  trustedProxies: "10.0.0.0/16",
};
