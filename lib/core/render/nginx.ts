/**
 * nginx.conf for one web node (nginx 1.22): static files served here, everything else passed to
 * the node's app server by uwsgi_pass (uWSGI) or proxy_pass (gunicorn), the request id passed on,
 * session and user headers logged but hidden from clients, and large-upload routes streamed.
 */

/** How a location matches: a URL prefix, one exact URL, or a PCRE regex (case-sensitive). */
export type NginxMatch = "prefix" | "exact" | "regex";

/** Cache-Control of a location's responses. */
export interface NginxCache {
  /** `max-age`, an nginx time: "1y", "30d", "1h", "0". */
  readonly maxAge: string;
  /** Add `immutable`: the file at this URL never changes (hashed names). */
  readonly immutable?: boolean;
  /** Add `must-revalidate`: once stale, a cache must ask again before reusing it. */
  readonly mustRevalidate?: boolean;
}

/**
 * Caching and headers of one location. `serves: "static"` refines the static location (the path
 * `staticUrlPath` itself, or a location nested in it: a prefix below it, or a regex tried on static
 * URLs only); `serves: "app"` is a location passed to the app (the path "/" is the default location).
 */
export interface NginxLocation {
  readonly path: string;
  readonly match: NginxMatch;
  readonly serves: "static" | "app";
  readonly cache?: NginxCache;
  /** Response headers, name -> value; each replaces the app's header of that name. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The request id nginx returns on every response. */
const REQUEST_ID_HEADER = "X-Request-ID";
/** Identity headers of the app: logged, never shown to clients. */
const HIDDEN_HEADERS = ["X-Session-ID", "X-User-ID"];

/**
 * Response headers the renderer sets or hides itself, and what to use instead; a location's
 * `headers` may not name them (compared without case).
 */
export const NGINX_RENDERED_HEADERS: Readonly<Record<string, string>> = {
  [REQUEST_ID_HEADER]: "the request id, set on every response",
  "Cache-Control": "set from the location's cache",
  Expires: "set from the location's cache",
  ...Object.fromEntries(HIDDEN_HEADERS.map((h) => [h, "the app's identity header, logged and hidden from clients"])),
};

const TIME_UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 };
/** nginx time ("1y", "30d", "45") as seconds; nginx's own units (M = 30 days, y = 365 days). */
export const NGINX_TIME = /^([0-9]+)(s|m|h|d|w|M|y)?$/;
export function nginxTimeSeconds(t: string): number {
  const m = NGINX_TIME.exec(t);
  if (!m) throw new Error(`not an nginx time: ${t}`);
  return Number(m[1]) * TIME_UNIT_SECONDS[m[2] ?? "s"];
}

export function cacheControlValue(c: NginxCache): string {
  return [`max-age=${nginxTimeSeconds(c.maxAge)}`, ...(c.immutable ? ["immutable"] : []), ...(c.mustRevalidate ? ["must-revalidate"] : [])].join(", ");
}

/** A double-quoted nginx string: nginx un-escapes \\ and \", so every character round-trips. */
const quoted = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** The `location` line of a match and path. */
export function locationLine(match: NginxMatch, path: string): string {
  if (match === "exact") return `location = ${path} {`;
  // Quoted: a regex may hold "{" (quantifiers) or ";", which end a bare nginx word.
  if (match === "regex") return `location ~ ${quoted(path)} {`;
  return `location ${path} {`;
}

export interface NginxConfig {
  readonly workerProcesses: number;
  readonly workerConnections: number;
  /** `worker_rlimit_nofile`, the container's nofile ulimit. */
  readonly nofile: number;
  readonly upstream: { readonly protocol: "uwsgi" | "http"; readonly address: string; readonly port: number; readonly keepalive: number };
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
  if (p === "uwsgi") {
    return [
      "include /etc/nginx/uwsgi_params;",
      "uwsgi_pass app_server;",
      "uwsgi_param HTTP_X_REQUEST_ID $req_id;",
      "uwsgi_param HTTP_X_FORWARDED_FOR $proxy_add_x_forwarded_for;",
      "uwsgi_param HTTP_X_FORWARDED_PROTO $forwarded_proto;",
      `uwsgi_read_timeout ${c.readTimeoutSeconds}s;`,
      ...hidden,
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
    ...Object.entries(headers).map(([name, value]) => `add_header ${name} ${quoted(value)} always;`),
    // Not "always": an error page must not be cached for a year.
    ...(cache ? [`add_header Cache-Control ${quoted(cacheControlValue(cache))};`] : []),
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
    "# Caches keep the compressed and the plain copy apart (Vary: Accept-Encoding).",
    "gzip_vary on;",
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
