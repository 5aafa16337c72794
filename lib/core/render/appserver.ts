/**
 * App server configs: uwsgi.ini (uWSGI 2.0) and gunicorn.conf.py (gunicorn 20).
 * Both get the same sizing from the web tier, so they can be swapped without re-doing the budget.
 */

export interface AppServerConfig {
  readonly wsgiModule: string;
  readonly port: number;
  readonly processes: number;
  readonly threads: number;
  readonly maxRequests: number;
  readonly timeoutSeconds: number;
  readonly listenBacklog: number;
  /** Largest request body, bytes; 0 for no limit (nginx enforces it). */
  readonly maxBodyBytes: number;
  readonly plugins: readonly string[];
  readonly statsPort: number;
  /** Addresses allowed to set X-Forwarded-* (the node's nginx). */
  readonly forwardedAllowIps: string;
  /**
   * uWSGI `socket-timeout`: how long it waits for each piece of a request body (the longest pause
   * of an upload route, plus a margin). Unset: uWSGI's 4 s. gunicorn has no such timeout: a gthread
   * worker waits for the body as long as nginx does; a sync worker's whole request counts in `timeout`.
   */
  readonly socketTimeoutSeconds?: number;
}

export function renderUwsgiIni(c: AppServerConfig): string {
  const lines = [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "[uwsgi]",
    "# Unknown options are errors, not silently ignored.",
    "strict = true",
    ...(c.plugins.length > 0 ? [`plugins = ${c.plugins.join(",")}`] : []),
    `module = ${c.wsgiModule}`,
    "master = true",
    `processes = ${c.processes}`,
    `threads = ${c.threads}`,
    "enable-threads = true",
    "# Load the app in each worker after fork, so every process opens its own database pool.",
    "lazy-apps = true",
    "single-interpreter = true",
    "need-app = true",
    "die-on-term = true",
    "vacuum = true",
    `socket = 0.0.0.0:${c.port}`,
    `listen = ${c.listenBacklog}`,
    `max-requests = ${c.maxRequests}`,
    "# Bodies above 64 KiB go to a temporary file before the app runs. uWSGI 2.0 adds the whole",
    "# `harakiri` to a running timer for every piece of body it reads (a 1 MiB body: 16 times or more),",
    "# so `harakiri` would no longer bound the app. Its routing sets the timer instead, once the body is in:",
    "# a slow upload is bounded by socket-timeout per pause, the app by this many seconds.",
    "post-buffering = 65536",
    `route-run = harakiri:${c.timeoutSeconds}`,
    "harakiri-verbose = true",
    ...(c.socketTimeoutSeconds !== undefined
      ? ["# Upload routes stream: the longest pause a client may make mid-body (nginx cuts it first).", `socket-timeout = ${c.socketTimeoutSeconds}`]
      : []),
    ...(c.maxBodyBytes > 0 ? [`limit-post = ${c.maxBodyBytes}`] : []),
    "buffer-size = 16384",
    "# Stats server for uwsgitop and exporters, on the internal network only.",
    `stats = 0.0.0.0:${c.statsPort}`,
    "stats-http = true",
    "memory-report = true",
    "log-format = %(addr) %(method) %(uri) %(status) %(size) %(msecs)ms pid=%(pid) request_id=%(var.HTTP_X_REQUEST_ID)",
    "",
  ];
  return lines.join("\n");
}

export function renderGunicornConfig(c: AppServerConfig): string {
  const py = (s: string) => JSON.stringify(s);
  const lines = [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    `wsgi_app = ${py(c.wsgiModule)}`,
    `bind = [${py(`0.0.0.0:${c.port}`)}]`,
    `workers = ${c.processes}`,
    `threads = ${c.threads}`,
    `worker_class = ${py(c.threads > 1 ? "gthread" : "sync")}`,
    `backlog = ${c.listenBacklog}`,
    `timeout = ${c.timeoutSeconds}`,
    "graceful_timeout = 30",
    "keepalive = 75",
    `max_requests = ${c.maxRequests}`,
    `max_requests_jitter = ${Math.max(1, Math.floor(c.maxRequests / 10))}`,
    "# Load the app in each worker after fork, so every process opens its own database pool.",
    "preload_app = False",
    `forwarded_allow_ips = ${py(c.forwardedAllowIps)}`,
    'accesslog = "-"',
    'errorlog = "-"',
    `access_log_format = ${py('%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s request_id=%({x-request-id}i)s')}`,
    ...(c.maxBodyBytes > 0 ? ["# gunicorn has no body limit of its own; nginx enforces client_max_body_size."] : []),
    "",
  ];
  return lines.join("\n");
}
