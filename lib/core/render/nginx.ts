/**
 * nginx.conf for one web node (nginx 1.22): static files served here, everything else passed to
 * the node's app server by uwsgi_pass (uWSGI) or proxy_pass (gunicorn), the request id passed on,
 * session and user headers logged but hidden from clients, and large-upload routes streamed.
 */
import { HIDDEN_HEADERS, REQUEST_ID_HEADER, cacheControlValue, locationLine, nginxString, type NginxLocation, type NginxMatch } from "./nginx-locations";

/**
 * The access log format `trace` (the seed's): client, time, request, status, bytes, referer, agent,
 * forwarded-for, then the request id, nginx's own time and the app's (s), and the session and user
 * ids the app returns in X-Session-ID / X-User-ID (hidden from the client). One string per line of
 * the rendered `log_format`.
 */
const NGINX_TRACE_PARTS = [
  '$remote_addr - [$time_local] "$request" $status $body_bytes_sent ',
  '"$http_referer" "$http_user_agent" "$http_x_forwarded_for" ',
  "request_id=$req_id request_time=$request_time ",
  "upstream_response_time=$upstream_response_time ",
  "session=$upstream_http_x_session_id user=$upstream_http_x_user_id",
];
export const NGINX_LOG_FORMAT = NGINX_TRACE_PARTS.join("");

/** On a swarm the app's address changes with its replicas: the format also says which one answered (or did not). */
const traceParts = (resolved: boolean) => (resolved ? [...NGINX_TRACE_PARTS.slice(0, -1), "upstream_addr=$upstream_addr ", ...NGINX_TRACE_PARTS.slice(-1)] : NGINX_TRACE_PARTS);

export interface NginxConfig {
  readonly workerProcesses: number;
  readonly workerConnections: number;
  /** `worker_rlimit_nofile`, the container's nofile ulimit. */
  readonly nofile: number;
  readonly upstream: {
    readonly protocol: "uwsgi" | "http";
    readonly address: string;
    readonly port: number;
    readonly keepalive: number;
    /**
     * On a swarm: Docker's DNS. The app's name is then resolved at request time (every second at
     * most) instead of once at start, so replicas that moved (a drain, a lost host, an update) are
     * followed; without it nginx keeps connecting to addresses that are gone. Absent: resolved once.
     */
    readonly resolver?: string;
  };
  readonly staticUrlPath: string;
  readonly staticRoot: string;
  readonly clientMaxBodySize: string;
  /** Streamed locations, before every other regex location (nginx tries regexes in order). `match` @default "prefix" */
  readonly uploadRoutes: readonly { readonly path: string; readonly match?: NginxMatch; readonly maxBodySize: string; readonly clientPauseSeconds: number }[];
  /** Caching and headers by location. @default [] (static files `expires 1h`) */
  readonly locations?: readonly NginxLocation[];
  /** Seconds nginx waits for the app; must exceed the app's own timeout and stay below HAProxy's. */
  readonly readTimeoutSeconds: number;
  /** Address range of the load balancer, trusted for X-Forwarded-For. */
  readonly trustedProxies: string;
  /** `stub_status` on a listener of its own, for the node's exporter only (monitored stacks). @default none */
  readonly stubStatus?: { readonly port: number; readonly allow: string };
}

const pad = (n: number, lines: string[]) => lines.map((l) => (l === "" ? l : " ".repeat(n) + l));

/** Passing to the app; `hide` lists app headers the location replaces with its own. */
function passLines(c: NginxConfig, streaming: boolean, hide: readonly string[] = []): string[] {
  const p = c.upstream.protocol === "uwsgi" ? "uwsgi" : "proxy";
  const hidden = [
    "# X-Session-ID / X-User-ID are logged above but never shown to clients.",
    ...HIDDEN_HEADERS.map((h) => `${p}_hide_header ${h};`),
    "# nginx returns the request id itself (add_header below); an app's own copy would make two.",
    `${p}_hide_header ${REQUEST_ID_HEADER};`,
    ...(hide.length > 0 ? ["# This location's own headers replace the app's.", ...hide.map((h) => `${p}_hide_header ${h};`)] : []),
    ...(streaming ? [`${p}_buffering off;`, `${p}_request_buffering off;`] : []),
  ];
  // A resolved upstream: a vanished address answers no SYN on an overlay network, so a connect that
  // takes more than 2 s (the app is one hop away) goes to the next address instead of waiting 60 s.
  const resolved = c.upstream.resolver ? [`${p}_connect_timeout 2s;`] : [];
  const target = c.upstream.resolver ? "$app_server" : "app_server";
  if (p === "uwsgi") {
    return [
      "include /etc/nginx/uwsgi_params;",
      `uwsgi_pass ${target};`,
      ...resolved,
      "uwsgi_param HTTP_X_REQUEST_ID $req_id;",
      "uwsgi_param HTTP_X_FORWARDED_FOR $proxy_add_x_forwarded_for;",
      "uwsgi_param HTTP_X_FORWARDED_PROTO $forwarded_proto;",
      `uwsgi_read_timeout ${c.readTimeoutSeconds}s;`,
      ...hidden,
    ];
  }
  return [
    `proxy_pass http://${target};`,
    ...resolved,
    "proxy_http_version 1.1;",
    '# An empty Connection header keeps the upstream connection alive.',
    'proxy_set_header Connection "";',
    "proxy_set_header Host $host;",
    "proxy_set_header X-Request-ID $req_id;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $forwarded_proto;",
    `proxy_read_timeout ${c.readTimeoutSeconds}s;`,
    ...hidden,
  ];
}

/** What a location sets of its own; a static location nested in the static one inherits what it leaves out. */
type Own = Pick<NginxLocation, "cache" | "headers">;

/**
 * The add_header lines of a location with headers of its own. nginx then inherits none of the outer
 * level's add_header, so the request id (and the static location's own, for one nested in it) is
 * repeated here.
 */
function headerLines(own: Own | undefined, outer: Own | undefined): string[] {
  if (!own || (own.cache === undefined && Object.keys(own.headers ?? {}).length === 0)) return [];
  const cache = own.cache ?? outer?.cache;
  const headers = { ...outer?.headers, ...own.headers };
  return [
    "# Headers of its own: nginx drops the outer add_header lines here, so they are repeated.",
    `add_header ${REQUEST_ID_HEADER} $req_id always;`,
    ...Object.entries(headers).map(([name, value]) => `add_header ${name} ${nginxString(value)} always;`),
    // Not "always": an error page must not be cached for a year.
    ...(cache ? [`add_header Cache-Control ${nginxString(cacheControlValue(cache))};`] : []),
  ];
}

const replaced = (l: Own | undefined) => [...Object.keys(l?.headers ?? {}), ...(l?.cache ? ["Cache-Control"] : [])];

export function renderNginxConfig(c: NginxConfig): string {
  const u = c.upstream;
  const staticPath = c.staticUrlPath.endsWith("/") ? c.staticUrlPath : `${c.staticUrlPath}/`;
  const staticRoot = c.staticRoot.endsWith("/") ? c.staticRoot : `${c.staticRoot}/`;
  const locations = c.locations ?? [];
  const isStaticRoot = (l: NginxLocation) => l.serves === "static" && l.match === "prefix" && (l.path === c.staticUrlPath || l.path === staticPath);
  const isAppRoot = (l: NginxLocation) => l.serves === "app" && l.match === "prefix" && l.path === "/";
  const staticOwn = locations.find(isStaticRoot);
  const appOwn = locations.find(isAppRoot);

  const uploads = c.uploadRoutes.flatMap((r) => [
    "",
    locationLine(r.match ?? "prefix", r.path),
    ...pad(4, [
      "# Large uploads stream to the app instead of being buffered to disk first.",
      "gzip off;",
      `client_max_body_size ${r.maxBodySize};`,
      "# The longest pause of the client mid-body; the app server and HAProxy wait longer, so nginx cuts it.",
      `client_body_timeout ${r.clientPauseSeconds}s;`,
      ...passLines(c, true),
    ]),
    "}",
  ]);
  const nestedStatic = locations
    .filter((l) => l.serves === "static" && !isStaticRoot(l))
    .flatMap((l) => [
      "",
      locationLine(l.match, l.path),
      // The static location's `expires` would add a second Cache-Control.
      ...pad(4, [...(l.cache && !staticOwn?.cache ? ["expires off;"] : []), ...headerLines(l, staticOwn)]),
      "}",
    ]);
  const appLocations = locations
    .filter((l) => l.serves === "app" && !isAppRoot(l))
    .flatMap((l) => ["", locationLine(l.match, l.path), ...pad(4, [...headerLines(l, undefined), ...passLines(c, false, replaced(l))]), "}"]);

  const server = [
    "listen 80 default_server;",
    "server_name _;",
    "# The request id goes back to the client, which can quote it to support; the logs of HAProxy,",
    "# nginx and the app carry the same id. A location with headers of its own repeats it (nginx",
    "# inherits add_header only into a location that has none).",
    `add_header ${REQUEST_ID_HEADER} $req_id always;`,
    `client_max_body_size ${c.clientMaxBodySize};`,
    "",
    `location ${staticPath} {`,
    ...pad(4, [`alias ${staticRoot};`, ...(staticOwn?.cache ? [] : ["expires 1h;"]), ...headerLines(staticOwn, undefined), "access_log off;", ...nestedStatic]),
    "}",
    ...uploads,
    ...appLocations,
    "",
    "location / {",
    ...pad(4, [...headerLines(appOwn, undefined), ...passLines(c, false, replaced(appOwn))]),
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
    ...traceParts(Boolean(c.upstream.resolver)).map((part, i, all) => `${i === 0 ? "log_format trace " : "                 "}'${part}'${i === all.length - 1 ? ";" : ""}`),
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
    "# Caches keep the compressed and the plain copy apart (Vary: Accept-Encoding).",
    "gzip_vary on;",
    "gzip_min_length 1024;",
    "gzip_types text/plain text/css text/xml application/json application/javascript application/xml image/svg+xml;",
    "",
    ...(u.resolver
      ? [
          "# The app service's tasks through Docker's DNS at request time (an upstream block would resolve once,",
          "# at start, and keep the addresses of replicas that moved). No upstream keepalive then.",
          `resolver ${u.resolver} valid=1s ipv6=off;`,
          "resolver_timeout 2s;",
        ]
      : [
          "upstream app_server {",
          `    server ${u.address}:${u.port};`,
          ...(u.protocol === "http" ? [`    keepalive ${u.keepalive};`] : ["    # No keepalive: the uwsgi protocol carries one request per connection."]),
          "}",
        ]),
    "",
    "server {",
    ...pad(4, [...(u.resolver ? [`set $app_server ${u.address}:${u.port};`, ""] : []), ...server]),
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
