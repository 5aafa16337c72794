/**
 * Escape hatches of the daemons: `uwsgiOptions`, `gunicornOptions`, `redisDirectives` and a Database's
 * `parameters`, options the library has no prop for (uWSGI `mount`, `reload-on-rss`, gunicorn
 * `limit_request_line`, Redis `notify-keyspace-events`, PostgreSQL `statement_timeout`...).
 *
 * An extra option must never change what a budget counts behind its back. So a key is refused when
 * the renderer's table already sets it (the tables in render/appserver.ts, redis.ts and postgres.ts
 * are the one list: a new rendered setting is refused here with no edit), when it is another name
 * for such a key, or when it changes what the budgets count without being rendered (more
 * concurrency per process, more processes, another config file). The error names the prop to set
 * instead. The daemon suite checks each family against the real daemon.
 */
import { z } from "zod";
import { GUNICORN_SETTINGS, UWSGI_SETTINGS, type AppServerConfig } from "../render/appserver";
import { PG_PRELOAD_LIBRARIES, POSTGRES_SETTINGS, type PgSource } from "../render/postgres";
import { REDIS_SETTINGS } from "../render/redis";

/** The web tier prop each renderer input comes from, as the user spells it. */
const PROP_OF: Readonly<Record<keyof AppServerConfig, string | undefined>> = {
  wsgiModule: "wsgiModule",
  port: "appPort",
  processes: "processes",
  threads: "threads",
  maxRequests: "maxRequests",
  timeoutSeconds: "requestTimeoutSeconds",
  listenBacklog: "listenBacklog",
  maxBodyBytes: "clientMaxBodySize or uploadRoutes[].maxBodySize",
  plugins: "uwsgiPlugins",
  bufferSize: "uwsgiBufferSize",
  socketTimeoutSeconds: "uploadRoutes[].clientPauseSeconds",
  statsPort: undefined, // the health check and exporters read it
  forwardedAllowIps: undefined, // always the node's own nginx
  extraOptions: undefined,
};

/**
 * uWSGI's other names for keys of its table: `uwsgi --help` lists each with the same description
 * (`-p|--processes`, `-p|--workers`). The daemon suite checks this list against the installed uWSGI.
 */
export const UWSGI_ALIASES: Readonly<Record<string, string>> = {
  workers: "processes",
  wsgi: "module",
  plugin: "plugins",
  "uwsgi-socket": "socket",
  "stats-server": "stats",
  logformat: "log-format",
};

/** uWSGI options that change what the budgets count although the library never renders them. */
export const UWSGI_BUDGET_KEYS: Readonly<Record<string, string>> = {
  // Not rendered since the harakiri timer is set by route-run (from requestTimeoutSeconds), once the body is in.
  harakiri: "would time requests from their first byte, with the body's pauses counted many times (WS-TIMEOUT-CHAIN reads route-run's timer); set requestTimeoutSeconds",
  async: "runs several requests per thread (async cores), more than processes x threads hold connections",
  gevent: "runs many requests per process, more than processes x threads hold connections",
  greenlet: "runs several requests per thread, more than processes x threads hold connections",
  ugreen: "runs several requests per thread, more than processes x threads hold connections",
  coroae: "runs several requests per thread, more than processes x threads hold connections",
  asyncio: "runs several requests per thread, more than processes x threads hold connections",
  tornado: "runs several requests per thread, more than processes x threads hold connections",
  http: "starts an HTTP router process beside the workers, which the memory budget does not count",
  https: "starts an HTTPS router process beside the workers, which the memory budget does not count",
  mules: "starts mule processes beside the workers, which the memory budget does not count",
  mule: "starts mule processes beside the workers, which the memory budget does not count",
  "spooler-processes": "starts spooler processes beside the workers, which the memory budget does not count",
  "attach-daemon": "starts other processes in the container, which the memory budget does not count",
  "smart-attach-daemon": "starts other processes in the container, which the memory budget does not count",
  ...Object.fromEntries(
    ["ini", "include", "inherit", "json", "js", "yaml", "yml", "xml", "xmlconfig", "config", "ini-paste", "ini-paste-logged", "inject-before", "inject-after", "fallback-config"].map((k) => [k, "reads another config file, whose options nothing checks"]),
  ),
  // `set = processes=3` after `processes = 2` spawns 3 workers (the daemon suite shows it).
  set: "sets any option by name (set = processes=64), around these checks",
  "declare-option": "declares an option that expands to others, around these checks",
  "declare-option2": "declares an option that expands to others, around these checks",
  "need-plugin": "loads a plugin, which may bring its own concurrency model; set uwsgiPlugins",
  "need-plugins": "loads plugins, which may bring their own concurrency model; set uwsgiPlugins",
  autoload: "loads plugins for unknown options, which may bring their own concurrency model; set uwsgiPlugins",
};

/** gunicorn settings that are not rendered but would bypass a budget or stop the server. */
export const GUNICORN_BUDGET_KEYS: Readonly<Record<string, string>> = {
  config: "reads another config file, whose settings nothing checks",
  paste: "loads a paste.deploy file, whose [server:main] section sets gunicorn settings nothing checks",
  raw_env: "sets environment variables around environment's checks (DATABASE_URL, pool sizes)",
  daemon: "detaches gunicorn, and the container ends with its first process",
  check_config: "makes gunicorn exit after checking its config, never serving",
  print_config: "makes gunicorn exit after printing its config, never serving",
};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const text = z.string().refine((s) => !CONTROL.test(s), "must be one line without control characters (a newline would add an option of its own)");
const scalarValue = z.union([z.boolean(), z.number().finite(), text]);
const optionValue = z.union([scalarValue, z.array(text).min(1)]);

/** Where a rendered key's value comes from: a prop the user sets, or the library itself (and why). */
interface Owned {
  readonly prop?: string;
  readonly why?: string;
}

/** A renderer's table as owners: each key with the prop its config field comes from. */
function owners<C, S extends { readonly from?: keyof C }>(table: Readonly<Record<string, S>>, propOf: Readonly<Record<keyof C, string | undefined>>, why: (s: S) => string | undefined = () => undefined): Record<string, Owned> {
  return Object.fromEntries(Object.entries(table).map(([key, s]) => [key, { prop: s.from === undefined ? undefined : propOf[s.from], why: why(s) }]));
}

interface OptionRules {
  /** The rendered file, as the message names it. */
  readonly file: string;
  readonly rendered: Readonly<Record<string, Owned>>;
  /** Other names of rendered keys: alias -> key. */
  readonly aliases: Readonly<Record<string, string>>;
  /** Keys refused for another reason: key -> why. */
  readonly refused: Readonly<Record<string, string>>;
  /** Families of keys refused for another reason. */
  readonly refusedPatterns?: readonly (readonly [RegExp, string])[];
}

/** Refusal message for an option name, or undefined when it may be set. */
function refusal(r: OptionRules, name: string): string | undefined {
  const key = Object.hasOwn(r.rendered, name) ? name : Object.hasOwn(r.aliases, name) ? r.aliases[name] : undefined;
  if (key !== undefined) {
    const { prop, why } = r.rendered[key];
    const subject = name === key ? "" : `an alias of ${key}, which `;
    if (prop) return `${subject}${r.file} sets from the prop ${prop}, which the budgets and the rendered files follow; set ${prop} instead`;
    return `${subject}${r.file} sets itself${why ? ` (${why.replace(/\n/g, " ")})` : ""}; the library relies on its value, so it cannot be overridden`;
  }
  if (Object.hasOwn(r.refused, name)) return `${r.refused[name]}; it cannot be an extra option`;
  const family = r.refusedPatterns?.find(([pattern]) => pattern.test(name));
  return family ? `${family[1]}; it cannot be an extra option` : undefined;
}

function optionsSchema<V extends z.ZodType>(keyPattern: RegExp, keyHint: string, rules: OptionRules, value: V) {
  return z.record(z.string(), value).superRefine((opts, ctx) => {
    for (const name of Object.keys(opts)) {
      // Reported on the record, not under the name: a bad name may hold a newline.
      if (!keyPattern.test(name)) ctx.addIssue({ code: "custom", path: [], message: `${JSON.stringify(name)} ${keyHint}` });
      const problem = keyPattern.test(name) ? refusal(rules, name) : undefined;
      if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
    }
  });
}

/** uWSGI options as in uwsgi.ini, e.g. `{ "reload-on-rss": 512, mount: ["/api=rest.wsgi:app"] }`. */
export const uwsgiOptionsSchema = optionsSchema(/^[a-z0-9][a-z0-9-]*$/, "is not a uWSGI option name like 'reload-on-rss'", {
  file: "uwsgi.ini",
  rendered: owners(UWSGI_SETTINGS, PROP_OF, (s) => s.comment),
  aliases: UWSGI_ALIASES,
  refused: UWSGI_BUDGET_KEYS,
  // route, route-if, final-route-status, error-route, response-route, ...: a routing action may set harakiri per request.
  refusedPatterns: [[/^(final-|error-|response-)?route(-|$)/, "is uWSGI's internal routing, whose harakiri action would replace the timer route-run sets from requestTimeoutSeconds"]],
}, optionValue);

/** gunicorn settings as in gunicorn.conf.py, e.g. `{ limit_request_line: 8190 }`. */
export const gunicornOptionsSchema = optionsSchema(/^[a-z][a-z0-9_]*$/, "is not a gunicorn setting name like 'limit_request_line'", {
  file: "gunicorn.conf.py",
  rendered: owners(GUNICORN_SETTINGS, PROP_OF, (s) => s.comment),
  aliases: {},
  refused: GUNICORN_BUDGET_KEYS,
}, optionValue);

/** Redis directives that are not in redis.conf's table but would bypass the password, a reference or the file. */
export const REDIS_REFUSED: Readonly<Record<string, string>> = {
  requirepass: "the password comes from the component's sensitive variable, fed to Redis at start",
  user: "adds users beside the password-protected default user",
  aclfile: "adds users beside the password-protected default user",
  include: "reads another config file, whose directives nothing checks",
  databases: "url({ db }) references are checked against Redis's 16 databases",
  replicaof: "makes the server a read-only copy of another one",
  slaveof: "makes the server a read-only copy of another one",
};

const REDIS_KEY = /^[a-z][a-z0-9-]*$/;
const REDIS_HINT = "is not a Redis directive name like 'notify-keyspace-events' (lower case: Redis ignores case, the checks do not)";

/** Redis directives of a Cache (engine "redis"), e.g. `{ "notify-keyspace-events": "Ex" }`. */
export const cacheRedisDirectivesSchema = optionsSchema(REDIS_KEY, REDIS_HINT, {
  file: "redis.conf",
  rendered: owners(REDIS_SETTINGS, { maxClients: "maxClients", maxMemoryMiB: "memoryMiB", evictionPolicy: "evictionPolicy", purpose: undefined, extraDirectives: undefined }),
  aliases: {},
  refused: REDIS_REFUSED,
}, optionValue);

/** Redis directives of a Queue (engine "redis"). */
export const queueRedisDirectivesSchema = optionsSchema(REDIS_KEY, REDIS_HINT, {
  file: "redis.conf",
  rendered: owners(REDIS_SETTINGS, { maxClients: "maxConnections", maxMemoryMiB: "memoryMiB", evictionPolicy: undefined, purpose: undefined, extraDirectives: undefined }),
  aliases: {},
  refused: REDIS_REFUSED,
}, optionValue);

/** The Database prop each postgresql.conf input comes from, as the user spells it. */
const PG_PROP_OF: Readonly<Record<PgSource, string | undefined>> = {
  role: undefined,
  clusterName: undefined, // the member's container name
  synchronousStandbys: "synchronousReplicas",
  synchronousCount: "synchronousReplicas",
  standby: undefined,
  "standby.max_connections": "maxConnections",
  "standby.max_worker_processes": "maxWorkerProcesses",
  "standby.max_wal_senders": "maxWalSenders",
  "standby.max_prepared_transactions": "maxPreparedTransactions",
  "standby.max_locks_per_transaction": "maxLocksPerTransaction",
  superuserReservedConnections: "superuserReservedConnections",
  maxReplicationSlots: "maxReplicationSlots",
  sharedBuffersMiB: "sharedBuffersMiB",
  workMemMiB: "workMemMiB",
  maintenanceWorkMemMiB: "memoryMiB (pgtune derives it)",
  effectiveCacheSizeMiB: "memoryMiB (pgtune derives it)",
  slowQueryMs: "slowQueryMs",
  pgtune: "memoryMiB, cpus or storage (pgtune derives it)",
  extraParameters: undefined,
};

/** PostgreSQL parameters not in postgresql.conf's table that would bypass a budget, a file or the start scripts. */
export const POSTGRES_REFUSED: Readonly<Record<string, string>> = {
  ...Object.fromEntries(["include", "include_dir", "include_if_exists"].map((k) => [k, "reads another config file, whose parameters nothing checks"])),
  config_file: "moves the configuration away from the rendered file",
  data_directory: "moves the data away from the volume the start scripts initialize",
  ident_file: "changes authentication beside the rendered pg_hba.conf",
  primary_conninfo: "is written by a standby's start script (pg_basebackup -R), with the replication password",
  primary_slot_name: "is written by a standby's start script, one slot per replica (WS-DB-REPLICATION-SLOTS)",
  autovacuum_max_workers: "runs more autovacuum workers, each with up to maintenance_work_mem, than WS-DB-MEMORY counts",
};

/** PostgreSQL parameters as in postgresql.conf, e.g. `{ idle_in_transaction_session_timeout: "5min" }`. */
export const postgresParametersSchema = optionsSchema(
  /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$/,
  "is not a PostgreSQL parameter name like 'idle_in_transaction_session_timeout' (lower case: PostgreSQL ignores case, the checks do not)",
  {
    file: "postgresql.conf",
    rendered: owners(POSTGRES_SETTINGS, PG_PROP_OF),
    aliases: {},
    refused: POSTGRES_REFUSED,
  },
  // One value per parameter: PostgreSQL keeps the last of repeated lines.
  scalarValue,
).superRefine((params, ctx) => {
  for (const name of Object.keys(params)) {
    const prefix = name.includes(".") ? name.split(".")[0] : undefined;
    // PostgreSQL takes any `other.name` as a placeholder that nothing reads: only loaded libraries' are checked.
    if (prefix !== undefined && !PG_PRELOAD_LIBRARIES.includes(prefix)) {
      ctx.addIssue({ code: "custom", path: [name], message: `${prefix} is not a loaded library (${PG_PRELOAD_LIBRARIES.join(", ")}): PostgreSQL would keep it as a placeholder nothing reads` });
    }
  }
});
