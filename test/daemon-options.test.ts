import { Cache, Database, GUNICORN_SETTINGS, POSTGRES_SETTINGS, PropsError, Queue, REDIS_SETTINGS, UWSGI_SETTINGS, WebTier, type WebTierProps } from "../lib";
import { GUNICORN_BUDGET_KEYS, POSTGRES_REFUSED, REDIS_REFUSED, UWSGI_ALIASES, UWSGI_BUDGET_KEYS } from "../lib/core/schemas/daemon-options";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

const INI = "/etc/webstack/uwsgi.ini";
const PY = "/etc/webstack/gunicorn.conf.py";

function tier(props: Partial<WebTierProps>) {
  const stack = newStack();
  new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, ...props });
  return stack;
}

function problems(props: Partial<WebTierProps>): string {
  try {
    tier(props);
  } catch (e) {
    expect(e).toBeInstanceOf(PropsError);
    expect((e as PropsError).message).toContain("[test/web] invalid props:");
    return (e as PropsError).problems.join("\n");
  }
  throw new Error("expected a PropsError");
}

describe("uwsgiOptions", () => {
  test("extra options render after the library's, in order; a list repeats the option", () => {
    const ini = fileOf(
      tier({ uwsgiOptions: { "reload-on-rss": 512, mount: ["/api=rest.wsgi:application", "/=ui.wsgi:application"], "manage-script-name": true, "wsgi-disable-file-wrapper": true, "max-worker-lifetime": 3600 } }),
      "web-1-app",
      INI,
    );
    expect(ini).toMatch(
      /log-format = [^\n]*\n# uwsgiOptions of the web tier; [^\n]*\nreload-on-rss = 512\nmount = \/api=rest\.wsgi:application\nmount = \/=ui\.wsgi:application\nmanage-script-name = true\nwsgi-disable-file-wrapper = true\nmax-worker-lifetime = 3600\n$/,
    );
  });

  test("every option uwsgi.ini sets is refused, naming the field as spelled and the prop to use", () => {
    const typed: Record<string, string> = { processes: "processes", threads: "threads", listen: "listenBacklog", harakiri: "requestTimeoutSeconds", "max-requests": "maxRequests", socket: "appPort", module: "wsgiModule", "buffer-size": "uwsgiBufferSize", "route-run": "requestTimeoutSeconds", "socket-timeout": "uploadRoutes[].clientPauseSeconds" };
    for (const key of Object.keys(UWSGI_SETTINGS)) {
      const p = problems({ uwsgiOptions: { [key]: "1" } });
      expect(p).toMatch(new RegExp(`^uwsgiOptions\\.${key}: uwsgi\\.ini sets`));
      if (typed[key]) expect(p).toContain(`set ${typed[key]} instead`);
    }
    expect(problems({ uwsgiOptions: { "post-buffering": 0 } })).toMatch(/post-buffering: uwsgi\.ini sets itself \(Bodies above 64 KiB .* the app by this many seconds\.\); the library relies on its value/);
    expect(problems({ uwsgiOptions: { "limit-post": 0 } })).toContain("set clientMaxBodySize or uploadRoutes[].maxBodySize instead");
  });

  test("aliases of those options and options that change what the budgets count are refused too", () => {
    for (const [alias, key] of Object.entries(UWSGI_ALIASES)) {
      expect(problems({ uwsgiOptions: { [alias]: "2" } })).toMatch(new RegExp(`^uwsgiOptions\\.${alias}: an alias of ${key}, which uwsgi\\.ini sets`));
    }
    expect(problems({ uwsgiOptions: { workers: 64 } })).toContain("set processes instead");
    for (const key of Object.keys(UWSGI_BUDGET_KEYS)) expect(problems({ uwsgiOptions: { [key]: "x" } })).toMatch(new RegExp(`^uwsgiOptions\\.${key}: .*; it cannot be an extra option$`));
    expect(problems({ uwsgiOptions: { async: 100 } })).toContain("more than processes x threads hold connections");
    expect(problems({ uwsgiOptions: { include: "/etc/more.ini" } })).toContain("reads another config file");
    // The harakiri timer is set by route-run; harakiri itself and every routing option stay refused.
    expect(problems({ uwsgiOptions: { harakiri: 600 } })).toMatch(/^uwsgiOptions\.harakiri: .*set requestTimeoutSeconds; it cannot be an extra option$/);
    for (const key of ["route", "route-if", "final-route-status", "error-route", "response-route-uri"]) {
      expect(problems({ uwsgiOptions: { [key]: "^/ harakiri:9999" } })).toMatch(new RegExp(`^uwsgiOptions\\.${key}: is uWSGI's internal routing, whose harakiri action`));
    }
  });

  test("a value cannot add a line, a name must be an option name", () => {
    expect(problems({ uwsgiOptions: { "reload-on-rss": "512\nprocesses = 64" } })).toMatch(/^uwsgiOptions\.reload-on-rss: must be one line/);
    expect(problems({ uwsgiOptions: { mount: ["/a=x:app", "/b=y:app\r"] } })).toMatch(/^uwsgiOptions\.mount\.1: must be one line/);
    expect(problems({ uwsgiOptions: { "processes = 64\nx": 1 } })).toContain('uwsgiOptions: "processes = 64\\nx" is not a uWSGI option name');
    expect(problems({ uwsgiOptions: { "reload-on-rss": Infinity } })).toMatch(/^uwsgiOptions\.reload-on-rss:/);
  });

  test("uwsgiBufferSize sets buffer-size; uWSGI props on a gunicorn tier are refused", () => {
    expect(fileOf(tier({ uwsgiBufferSize: 65535 }), "web-1-app", INI)).toContain("\nbuffer-size = 65535\n");
    const p = problems({ server: "gunicorn", uwsgiOptions: { "reload-on-rss": 512 }, uwsgiBufferSize: 8192 });
    expect(p).toContain("uwsgiOptions: the tier runs gunicorn (server), which does not read uwsgiOptions");
    expect(p).toContain("uwsgiBufferSize: the tier runs gunicorn (server), which does not read uwsgiBufferSize");
    expect(problems({ gunicornOptions: { limit_request_line: 8190 } })).toContain("gunicornOptions: the tier runs uwsgi (server)");
  });
});

describe("gunicornOptions", () => {
  test("extra settings render as Python literals after a check of their names against gunicorn's own", () => {
    const py = fileOf(
      tier({ server: "gunicorn", gunicornOptions: { limit_request_line: 8190, proc_name: 'site "a"', reuse_port: true, reload_extra_files: ["/a", "/b"] } }),
      "web-1-app",
      PY,
    );
    expect(py).toContain('_unknown = sorted({"limit_request_line", "proc_name", "reuse_port", "reload_extra_files"} - {s.name for s in _gunicorn_config.KNOWN_SETTINGS})\n');
    expect(py).toMatch(/\nlimit_request_line = 8190\nproc_name = "site \\"a\\""\nreuse_port = True\nreload_extra_files = \["\/a", "\/b"\]\n$/);
    expect(fileOf(tier({ server: "gunicorn" }), "web-1-app", PY)).not.toContain("KNOWN_SETTINGS");
  });

  test("every setting gunicorn.conf.py sets, and the ones that bypass a budget, are refused", () => {
    for (const key of Object.keys(GUNICORN_SETTINGS)) expect(problems({ server: "gunicorn", gunicornOptions: { [key]: 1 } })).toMatch(new RegExp(`^gunicornOptions\\.${key}: gunicorn\\.conf\\.py sets`));
    expect(problems({ server: "gunicorn", gunicornOptions: { workers: 64 } })).toContain("set processes instead");
    expect(problems({ server: "gunicorn", gunicornOptions: { worker_class: "gevent" } })).toContain("set threads instead");
    for (const key of Object.keys(GUNICORN_BUDGET_KEYS)) expect(problems({ server: "gunicorn", gunicornOptions: { [key]: "x" } })).toMatch(new RegExp(`^gunicornOptions\\.${key}: `));
    expect(problems({ server: "gunicorn", gunicornOptions: { raw_env: ["DATABASE_URL=postgres://elsewhere"] } })).toContain("around environment's checks");
    expect(problems({ server: "gunicorn", gunicornOptions: { "max-requests": 1 } })).toContain('gunicornOptions: "max-requests" is not a gunicorn setting name');
  });
});

test("environment cannot pass app server options around those checks", () => {
  expect(problems({ environment: { UWSGI_ASYNC: "100" } })).toMatch(/^environment\.UWSGI_ASYNC: uWSGI reads UWSGI_\* variables as options .*set uwsgiOptions instead/);
  expect(problems({ server: "gunicorn", environment: { GUNICORN_CMD_ARGS: "--workers 64" } })).toMatch(/^environment\.GUNICORN_CMD_ARGS: .*set gunicornOptions instead/);
  expect(() => tier({ environment: { APP_UWSGI_MODE: "1" } })).not.toThrow();
});

describe("redisDirectives", () => {
  const CONF = "/usr/local/etc/redis/redis.conf";
  function service(kind: "cache" | "queue", props: Record<string, unknown>): string {
    const stack = newStack();
    if (kind === "cache") new Cache(stack, "cache", props);
    else new Queue(stack, "mq", { engine: "redis", ...props });
    return fileOf(stack, kind === "cache" ? "cache" : "mq", CONF);
  }
  function refusedAs(kind: "cache" | "queue", props: Record<string, unknown>): string {
    try {
      service(kind, props);
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      expect((e as PropsError).message).toContain(`[test/${kind === "cache" ? "cache" : "mq"}] invalid props:`);
      return (e as PropsError).problems.join("\n");
    }
    throw new Error("expected a PropsError");
  }

  test("extra directives render after the library's; a list repeats the directive; booleans are yes/no", () => {
    const conf = service("cache", { redisDirectives: { "notify-keyspace-events": "Ex", "lazyfree-lazy-eviction": true, "client-output-buffer-limit": ["normal 0 0 0", "pubsub 32mb 8mb 60"] } });
    expect(conf).toMatch(/rename-command DEBUG ""\n# redisDirectives of the component; [^\n]*\nnotify-keyspace-events Ex\nlazyfree-lazy-eviction yes\nclient-output-buffer-limit normal 0 0 0\nclient-output-buffer-limit pubsub 32mb 8mb 60\n$/);
    expect(service("queue", { redisDirectives: { hz: 20 } })).toContain("\nhz 20\n");
  });

  test("every directive redis.conf sets is refused, naming each construct's own prop", () => {
    for (const key of Object.keys(REDIS_SETTINGS)) {
      expect(refusedAs("cache", { redisDirectives: { [key]: "1" } })).toMatch(new RegExp(`^redisDirectives\\.${key}: redis\\.conf sets`));
    }
    expect(refusedAs("cache", { redisDirectives: { maxclients: 10 } })).toContain("set maxClients instead");
    expect(refusedAs("queue", { redisDirectives: { maxclients: 10 } })).toContain("set maxConnections instead");
    expect(refusedAs("queue", { redisDirectives: { maxmemory: "1gb" } })).toContain("set memoryMiB instead");
    expect(refusedAs("queue", { redisDirectives: { "maxmemory-policy": "allkeys-lru" } })).toContain("redis.conf sets itself; the library relies on its value");
    for (const key of Object.keys(REDIS_REFUSED)) expect(refusedAs("cache", { redisDirectives: { [key]: "x" } })).toMatch(new RegExp(`^redisDirectives\\.${key}: .*; it cannot be an extra option$`));
    expect(refusedAs("cache", { redisDirectives: { user: "default on nopass ~* +@all" } })).toContain("beside the password-protected default user");
  });

  test("no second line, no upper case (Redis ignores case), no other engine", () => {
    expect(refusedAs("cache", { redisDirectives: { "notify-keyspace-events": "Ex\nmaxclients 100000" } })).toMatch(/^redisDirectives\.notify-keyspace-events: must be one line/);
    expect(refusedAs("cache", { redisDirectives: { MAXCLIENTS: 10 } })).toContain('redisDirectives: "MAXCLIENTS" is not a Redis directive name');
    expect(refusedAs("cache", { engine: "memcached", redisDirectives: { hz: 20 } })).toContain("redisDirectives: the engine is memcached, which does not read redisDirectives");
  });
});

describe("Database parameters", () => {
  const CONF = "/etc/postgresql/postgresql.conf";
  function db(props: Record<string, unknown>) {
    const stack = newStack();
    new Database(stack, "db", { replicas: 1, ...props });
    return stack;
  }
  function refusedAs(props: Record<string, unknown>): string {
    try {
      db(props);
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      expect((e as PropsError).message).toContain("[test/db] invalid props:");
      return (e as PropsError).problems.join("\n");
    }
    throw new Error("expected a PropsError");
  }

  test("parameters render last on the primary and every replica: numbers bare, booleans on/off, strings quoted", () => {
    const stack = db({ parameters: { idle_in_transaction_session_timeout: "5min", deadlock_timeout: 2000, log_connections: true, application_name: "it's" } });
    for (const key of ["db-primary", "db-replica-1"]) {
      expect(fileOf(stack, key, CONF)).toMatch(
        /logging_collector = off\n\n# parameters of the Database, [^\n]*\nidle_in_transaction_session_timeout = '5min'\ndeadlock_timeout = 2000\nlog_connections = on\napplication_name = 'it''s'\n$/,
      );
    }
  });

  test("every parameter postgresql.conf sets is refused, naming the Database prop to use", () => {
    for (const key of Object.keys(POSTGRES_SETTINGS)) expect(refusedAs({ parameters: { [key]: "1" } })).toMatch(new RegExp(`^parameters\\.${key.replace(".", "\\.")}: postgresql\\.conf sets`));
    const props: Record<string, string> = {
      max_connections: "maxConnections", max_worker_processes: "maxWorkerProcesses", max_wal_senders: "maxWalSenders", shared_buffers: "sharedBuffersMiB", work_mem: "workMemMiB",
      max_replication_slots: "maxReplicationSlots", synchronous_standby_names: "synchronousReplicas", log_min_duration_statement: "slowQueryMs", max_parallel_workers: "memoryMiB, cpus or storage (pgtune derives it)",
    };
    for (const [key, prop] of Object.entries(props)) expect(refusedAs({ parameters: { [key]: 1 } })).toContain(`set ${prop} instead`);
    expect(refusedAs({ parameters: { hba_file: "/tmp/hba" } })).toContain("postgresql.conf sets itself; the library relies on its value");
    for (const key of Object.keys(POSTGRES_REFUSED)) expect(refusedAs({ parameters: { [key]: "x" } })).toMatch(new RegExp(`^parameters\\.${key}: .*; it cannot be an extra option$`));
  });

  test("no second line, no upper case, no list, no placeholder of a library that is not loaded", () => {
    expect(refusedAs({ parameters: { statement_timeout: "30s'\nmax_connections = 5000" } })).toMatch(/^parameters\.statement_timeout: must be one line/);
    expect(refusedAs({ parameters: { MAX_CONNECTIONS: 5000 } })).toContain('parameters: "MAX_CONNECTIONS" is not a PostgreSQL parameter name');
    expect(refusedAs({ parameters: { search_path: ["a", "b"] } })).toMatch(/^parameters\.search_path:/);
    expect(refusedAs({ parameters: { "auto_explain.log_min_duration": "1s" } })).toContain("parameters.auto_explain.log_min_duration: auto_explain is not a loaded library (pg_stat_statements)");
    expect(() => db({ parameters: { "pg_stat_statements.max": 10000 } })).not.toThrow();
  });
});
