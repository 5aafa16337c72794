/**
 * App server configs: uwsgi.ini (uWSGI 2.0) and gunicorn.conf.py (gunicorn 20).
 * Both get the same sizing from the web tier, so they can be swapped without re-doing the budget.
 *
 * Each file is a table of settings, key -> value for a config. The tables are the single list of what
 * the library sets: the web tier's `uwsgiOptions` and `gunicornOptions` refuse every key in them
 * (schemas/daemon-options.ts reads them), so an extra option can never override a setting a budget
 * counts or the library relies on.
 */

/** The value of one extra option: a list renders the key once per entry (uWSGI `mount`, say). */
export type AppServerOptionValue = string | number | boolean | readonly string[];

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
  /** uWSGI `buffer-size`, bytes: the largest request header block. @default 16384 */
  readonly bufferSize?: number;
  /** Options of the server not in its table, validated by the props schema; rendered after the table, in this order. @default {} */
  readonly extraOptions?: Readonly<Record<string, AppServerOptionValue>>;
}

/**
 * One setting of a table. `value` gives what is rendered for a config (undefined: not rendered for
 * it); `from` names the config field it derives from (none: fixed by the library); `comment` is
 * written above it (a line of `#` per line).
 */
export interface AppServerSetting {
  readonly value: (c: AppServerConfig) => string | number | undefined;
  readonly from?: keyof AppServerConfig;
  readonly comment?: string;
}

const fixed = (value: string | number, comment?: string): AppServerSetting => ({ value: () => value, comment });
const DEFAULT_BUFFER_SIZE = 16384;

/** uWSGI's request line: client, method, URI, status, bytes, the app's time (ms), worker pid, request id. */
export const UWSGI_LOG_FORMAT = "%(addr) %(method) %(uri) %(status) %(size) %(msecs)ms pid=%(pid) request_id=%(var.HTTP_X_REQUEST_ID)";
/** gunicorn's access line, the same fields: client, request line, status, bytes, ms, worker pid, request id. */
export const GUNICORN_ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s request_id=%({x-request-id}i)s';

export const UWSGI_SETTINGS: Readonly<Record<string, AppServerSetting>> = {
  strict: fixed("true", "Unknown options are errors, not silently ignored."),
  plugins: { from: "plugins", value: (c) => (c.plugins.length > 0 ? c.plugins.join(",") : undefined) },
  module: { from: "wsgiModule", value: (c) => c.wsgiModule },
  master: fixed("true"),
  processes: { from: "processes", value: (c) => c.processes },
  threads: { from: "threads", value: (c) => c.threads },
  "enable-threads": fixed("true"),
  "lazy-apps": fixed("true", "Load the app in each worker after fork, so every process opens its own database pool."),
  "single-interpreter": fixed("true"),
  "need-app": fixed("true"),
  "die-on-term": fixed("true"),
  vacuum: fixed("true"),
  socket: { from: "port", value: (c) => `0.0.0.0:${c.port}` },
  listen: { from: "listenBacklog", value: (c) => c.listenBacklog },
  "max-requests": { from: "maxRequests", value: (c) => c.maxRequests },
  "no-threads-wait": {
    from: "threads",
    value: (c) => (c.threads > 1 ? "true" : undefined),
    comment: [
      "uWSGI 2.0.21 (Debian 12) ends a threaded worker at max-requests by pthread_cancel()ing its other",
      "threads, the main one too; now and then the worker then hangs in its exit until worker-reload-mercy",
      "(60 s) kills it, and no worker is respawned meanwhile. With every worker of a node so stuck, the",
      "node's requests waited 38-54 s in the swarm e2e. Without the cancel the worker exits at once; a",
      "request another of its threads is serving then is cut, a rarer and shorter loss than a stuck node.",
      "uWSGI 2.0.25 no longer cancels threads (unbit/uwsgi f490d36).",
    ].join("\n"),
  },
  "post-buffering": fixed(
    65536,
    [
      "Bodies above 64 KiB go to a temporary file before the app runs. uWSGI 2.0 adds the whole",
      "`harakiri` to a running timer for every piece of body it reads (a 1 MiB body: 16 times or more),",
      "so `harakiri` would no longer bound the app. Its routing sets the timer instead, once the body is in:",
      "a slow upload is bounded by socket-timeout per pause, the app by this many seconds.",
    ].join("\n"),
  ),
  "route-run": { from: "timeoutSeconds", value: (c) => `harakiri:${c.timeoutSeconds}` },
  "harakiri-verbose": fixed("true"),
  "socket-timeout": {
    from: "socketTimeoutSeconds",
    value: (c) => c.socketTimeoutSeconds,
    comment: "Upload routes stream: the longest pause a client may make mid-body (nginx cuts it first).",
  },
  "limit-post": { from: "maxBodyBytes", value: (c) => (c.maxBodyBytes > 0 ? c.maxBodyBytes : undefined) },
  "buffer-size": { from: "bufferSize", value: (c) => c.bufferSize ?? DEFAULT_BUFFER_SIZE },
  stats: { from: "statsPort", value: (c) => `0.0.0.0:${c.statsPort}`, comment: "Stats server for uwsgitop and exporters, on the internal network only." },
  "stats-http": fixed("true"),
  "memory-report": fixed("true"),
  "log-format": fixed(UWSGI_LOG_FORMAT),
};

const py = (s: string) => JSON.stringify(s);

export const GUNICORN_SETTINGS: Readonly<Record<string, AppServerSetting>> = {
  wsgi_app: { from: "wsgiModule", value: (c) => py(c.wsgiModule) },
  bind: { from: "port", value: (c) => `[${py(`0.0.0.0:${c.port}`)}]` },
  workers: { from: "processes", value: (c) => c.processes },
  threads: { from: "threads", value: (c) => c.threads },
  worker_class: { from: "threads", value: (c) => py(c.threads > 1 ? "gthread" : "sync") },
  backlog: { from: "listenBacklog", value: (c) => c.listenBacklog },
  timeout: { from: "timeoutSeconds", value: (c) => c.timeoutSeconds },
  graceful_timeout: fixed(30),
  keepalive: fixed(75),
  max_requests: { from: "maxRequests", value: (c) => c.maxRequests },
  max_requests_jitter: { from: "maxRequests", value: (c) => Math.max(1, Math.floor(c.maxRequests / 10)) },
  preload_app: fixed("False", "Load the app in each worker after fork, so every process opens its own database pool."),
  forwarded_allow_ips: { from: "forwardedAllowIps", value: (c) => py(c.forwardedAllowIps) },
  accesslog: fixed(py("-")),
  errorlog: fixed(py("-")),
  access_log_format: fixed(py(GUNICORN_ACCESS_LOG_FORMAT)),
};

function tableLines(table: Readonly<Record<string, AppServerSetting>>, c: AppServerConfig): string[] {
  return Object.entries(table).flatMap(([key, s]) => {
    const v = s.value(c);
    if (v === undefined) return [];
    return [...(s.comment ? s.comment.split("\n").map((l) => `# ${l}`) : []), `${key} = ${v}`];
  });
}

const extraEntries = (c: AppServerConfig) => Object.entries(c.extraOptions ?? {});

export function renderUwsgiIni(c: AppServerConfig): string {
  const ini = (v: string | number | boolean) => String(v);
  const extra = extraEntries(c).flatMap(([key, v]) => (Array.isArray(v) ? v : [v as string | number | boolean]).map((x) => `${key} = ${ini(x)}`));
  const lines = [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "[uwsgi]",
    ...tableLines(UWSGI_SETTINGS, c),
    ...(extra.length > 0 ? ["# uwsgiOptions of the web tier; strict mode makes uWSGI refuse a name it does not know.", ...extra] : []),
    "",
  ];
  return lines.join("\n");
}

/** A Python literal for an option value: JSON's string escapes are Python's, so no value leaves its line. */
function pyLiteral(v: AppServerOptionValue): string {
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return py(v);
  return `[${v.map(py).join(", ")}]`;
}

export function renderGunicornConfig(c: AppServerConfig): string {
  const extra = extraEntries(c);
  // gunicorn skips a name of its config file that is not one of its settings, silently; the file
  // checks the extra names against the running gunicorn's own list, so a typo stops the start.
  const check = [
    "# gunicornOptions of the web tier, each checked against this gunicorn's own settings at start.",
    "import gunicorn.config as _gunicorn_config",
    `_unknown = sorted({${extra.map(([k]) => py(k)).join(", ")}} - {s.name for s in _gunicorn_config.KNOWN_SETTINGS})`,
    "if _unknown:",
    '    raise SystemExit("gunicorn.conf.py: not gunicorn settings: " + ", ".join(_unknown))',
  ];
  const lines = [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    ...tableLines(GUNICORN_SETTINGS, c),
    ...(c.maxBodyBytes > 0 ? ["# gunicorn has no body limit of its own; nginx enforces client_max_body_size."] : []),
    ...(extra.length > 0 ? [...check, ...extra.map(([k, v]) => `${k} = ${pyLiteral(v)}`)] : []),
    "",
  ];
  return lines.join("\n");
}
