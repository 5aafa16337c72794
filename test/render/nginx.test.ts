import { renderNginxConfig, type NginxConfig } from "../../lib";

const base: NginxConfig = {
  workerProcesses: 2,
  workerConnections: 1024,
  nofile: 4096,
  upstream: { protocol: "uwsgi", address: "10.0.1.11", port: 8000, keepalive: 16 },
  staticUrlPath: "/static",
  staticRoot: "/srv/static",
  clientMaxBodySize: "10m",
  uploadRoutes: [{ path: "/api/files", maxBodySize: "50g", clientPauseSeconds: 90 }],
  readTimeoutSeconds: 65,
  trustedProxies: "10.0.0.0/16",
};

test("uWSGI: uwsgi_pass with the request id and hidden session headers", () => {
  const conf = renderNginxConfig(base);
  expect(conf).toContain("uwsgi_pass app_server;");
  expect(conf).toContain("uwsgi_param HTTP_X_REQUEST_ID $req_id;");
  expect(conf).toContain("uwsgi_hide_header X-Session-ID;");
  expect(conf).toContain("uwsgi_hide_header X-User-ID;");
  expect(conf).not.toContain("keepalive 16;");
});

test("gunicorn: proxy_pass over kept-alive HTTP/1.1", () => {
  const conf = renderNginxConfig({ ...base, upstream: { ...base.upstream, protocol: "http" } });
  expect(conf).toContain("proxy_pass http://app_server;");
  expect(conf).toContain("keepalive 16;");
  expect(conf).toContain('proxy_set_header Connection "";');
  expect(conf).toContain("proxy_set_header X-Request-ID $req_id;");
});

test("the load balancer's request id wins over nginx's own", () => {
  expect(renderNginxConfig(base)).toMatch(/map \$http_x_request_id \$req_id \{\n\s+default \$http_x_request_id;\n\s+""\s+\$request_id;/);
});

test("log format carries request id, request time and upstream time", () => {
  const conf = renderNginxConfig(base);
  expect(conf).toContain("request_id=$req_id request_time=$request_time");
  expect(conf).toContain("upstream_response_time=$upstream_response_time");
});

test("upload routes stream with their own body limit; static files are served here", () => {
  const conf = renderNginxConfig(base);
  expect(conf).toMatch(/location \/api\/files \{[^}]*client_max_body_size 50g;[^}]*uwsgi_request_buffering off;/);
  // The route's pause limit, in its location only: ordinary routes keep nginx's default.
  expect(conf).toMatch(/location \/api\/files \{[^}]*client_body_timeout 90s;/);
  expect(conf.match(/client_body_timeout/g)).toHaveLength(1);
  expect(conf).toContain("client_max_body_size 10m;");
  expect(conf).toMatch(/location \/static\/ \{\n\s+alias \/srv\/static\/;/);
  expect(conf).toContain("gzip on;");
});
