import { BudgetError, Budgets, Cache, Database, LoadBalancer, Monitoring, Queue, SearchCluster, WebTier, WorkerTier, RULES, type WebStack } from "../lib";
import { IMAGE, WSGI, measurementFile, newStack } from "./helpers";

/** A stack with one database, a web tier and optional extras; `tweak` changes it before synth. */
function site(opts: { db?: object; web?: object; worker?: object; cache?: object; queue?: object; search?: object; lb?: object; route?: object } = {}): WebStack {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 1, ...opts.db });
  const cache = opts.cache ? new Cache(stack, "cache", opts.cache) : undefined;
  const queue = opts.queue || opts.worker ? new Queue(stack, "mq", opts.queue ?? {}) : undefined;
  const search = opts.search ? new SearchCluster(stack, "search", opts.search) : undefined;
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, cache, queue, search, ...opts.web });
  if (opts.worker) new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", database: db, cache, queue, ...opts.worker });
  new LoadBalancer(stack, "lb", { defaultTarget: web, routes: opts.route ? [{ pathPrefix: "/api", target: web, ...opts.route }] : [], ...opts.lb });
  return stack;
}

const findings = (stack: WebStack, rule: string) => stack.cluster().findings.filter((f) => f.ruleId === rule);
const failure = (stack: WebStack): string => {
  try {
    stack.cluster();
  } catch (e) {
    expect(e).toBeInstanceOf(BudgetError);
    return (e as Error).message;
  }
  throw new Error("expected a BudgetError");
};

describe("WS-DB-CONNECTIONS", () => {
  test("the seed's arithmetic: 4 nodes x 8 processes x 5 = 160 fit 200 - 3, when each process runs 5 requests at once", () => {
    const [f] = findings(site({ web: { nodes: 4, processes: 8, threads: 5, poolSize: 5 } }), "WS-DB-CONNECTIONS");
    expect(f).toMatchObject({ used: 160, limit: 197, status: "warn" });
    expect(f.lines).toContain("test/web: 4 nodes x 8 processes x 5 (the smaller of 5 threads and 5 pool + 0 overflow) = 160");
  });
  test("a process holds at most as many connections as it runs requests at once, whatever its pool", () => {
    const [f] = findings(site({ web: { nodes: 4, processes: 8, threads: 2, poolSize: 5, maxOverflow: 10 } }), "WS-DB-CONNECTIONS");
    expect(f).toMatchObject({ used: 64, status: "pass" });
    expect(f.lines).toContain("test/web: 4 nodes x 8 processes x 2 (the smaller of 2 threads and 5 pool + 10 overflow) = 64");
  });
  test("a pool smaller than the threads bounds the process", () => {
    const [f] = findings(site({ web: { nodes: 1, processes: 2, threads: 12, poolSize: 5, maxOverflow: 5 }, db: { additionalClients: [{ name: "postgres_exporter", connections: 3 }] } }), "WS-DB-CONNECTIONS");
    expect(f.used).toBe(2 * 10 + 3);
    expect(f.lines).toContain("test/web: 1 nodes x 2 processes x 10 (the smaller of 12 threads and 5 pool + 5 overflow) = 20");
  });
  test("without a pool (NullPool, Django), one connection per request in flight; several per request when the app says so", () => {
    expect(findings(site({ web: { nodes: 1, processes: 4, threads: 3, poolSize: 0, connectionPool: "none" } }), "WS-DB-CONNECTIONS")[0].lines).toContain(
      "test/web: 1 nodes x 4 processes x 3 (3 threads, no pool) = 12",
    );
    expect(findings(site({ web: { nodes: 1, processes: 4, threads: 2, connectionsPerRequest: 2 } }), "WS-DB-CONNECTIONS")[0].lines).toContain(
      "test/web: 1 nodes x 4 processes x 4 (the smaller of 2 threads x 2 connections each and 5 pool + 0 overflow) = 16",
    );
  });
  test("web nodes fit alone, but not once the workers count; the fix is the least change that passes", () => {
    expect(findings(site({ web: { nodes: 4, threads: 5 } }), "WS-DB-CONNECTIONS")[0].status).not.toBe("fail");
    const message = failure(site({ web: { nodes: 4, threads: 5 }, worker: { nodes: 10, concurrency: 4 } }));
    expect(message).toContain("[test/db] WS-DB-CONNECTIONS FAILED");
    expect(message).toContain("test/worker: 10 workers x 4 children x 1 (the smaller of 1 task and 5 pool + 0 overflow) = 40");
    expect(message).toContain("200 > 197");
    expect(message).toContain("fix: raise maxConnections of test/db to 203 (check its memoryMiB, WS-DB-MEMORY), or lower nodes of test/worker to 9, or put a pooler in front");
  });
  test("a cookiecutter-django-shaped stack (4 sync workers x 1 thread, pool 5 + 10) fits 100 max connections without an acknowledgement", () => {
    const stack = site({
      db: { replicas: 0, maxConnections: 100 },
      web: { nodes: 1, server: "gunicorn", processes: 4, threads: 1, poolSize: 5, maxOverflow: 10 },
      worker: { nodes: 1, concurrency: 4, beat: true, poolSize: 5, maxOverflow: 10 },
    });
    const [f] = findings(stack, "WS-DB-CONNECTIONS");
    expect(f).toMatchObject({ used: 9, limit: 97, status: "pass" });
    expect(f.lines).toEqual([
      "test/web: 1 nodes x 4 processes x 1 (the smaller of 1 thread and 5 pool + 10 overflow) = 4",
      "test/worker: 1 workers x 4 children x 1 (the smaller of 1 task and 5 pool + 10 overflow) = 4",
      "test/worker (beat): 1 beat x 1 (the smaller of 1 task and 5 pool + 10 overflow) = 1",
      "total clients = 9",
      "usable = max_connections 100 - superuser_reserved_connections 3 = 97",
    ]);
  });
});

describe("props a budget reads", () => {
  test("environment keys the budgets read are refused, naming the typed prop", () => {
    expect(() => site({ web: { environment: { DB_POOL_SIZE: "50" } } })).toThrow(/environment.DB_POOL_SIZE: set by the library from poolSize, which the budgets count; set that prop instead/);
    expect(() => site({ web: { environment: { DATABASE_URL: "postgresql://elsewhere/app" } } })).toThrow(/environment.DATABASE_URL: set by the library from database \(wire a Database\)/);
    expect(() => site({ worker: { environment: { CELERY_BROKER_URL: "amqp://x" } } })).toThrow(/environment.CELERY_BROKER_URL: set by the library from queue/);
  });
  test("a pool of 0 is refused unless the tier says it runs without a pool", () => {
    expect(() => site({ web: { poolSize: 0 } })).toThrow(/poolSize: must be at least 1 with connectionPool "pooled"/);
    expect(() => site({ web: { poolSize: 0, connectionPool: "none" } })).not.toThrow();
  });
  test("a web tier without a database warns until it says it needs none", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    expect(findings(stack, "WS-APP-DATABASE")[0]).toMatchObject({ status: "warn", lines: ["no database wired: no DATABASE_URL, no connections counted"] });
    const quiet = newStack();
    const site2 = new WebTier(quiet, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(quiet, "lb", { defaultTarget: site2 });
    Budgets.of(site2).acknowledge("WS-APP-DATABASE", "a static site: no database at all");
    expect(findings(quiet, "WS-APP-DATABASE")[0].status).toBe("acknowledged");
  });
  test("a secret reference to no secret of the stack is a props error naming the field and the secrets", () => {
    expect(() => site({ web: { environment: { API_TOKEN: "@@secret:nonexistent@@" } } }).cluster()).toThrow(
      /\[test\/web\] invalid props:\n {2}- environment.API_TOKEN: no secret named 'nonexistent' in this stack; its secrets are: db_password, db_replication_password, lb_stats_password/,
    );
  });
  test("messages name props as users write them, and never Infinity", () => {
    expect(() => site({ web: { nodes: Infinity } })).toThrow(/nodes: must be a finite number, got Infinity/);
    expect(failure(site({ db: { standbyOverrides: { maxConnections: 100 } } }))).toContain("fix: remove standbyOverrides.maxConnections of test/db, or set it to at least 200");
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new LoadBalancer(stack, "lb2", { defaultTarget: web });
    const message = failure(stack);
    expect(message).toContain("names, addresses and host ports: 1 > 0 collisions\n");
    expect(message).not.toContain("Infinity");
  });
});

describe("WS-DB-WAL-SENDERS and WS-DB-REPLICATION-SLOTS", () => {
  test("derived values fit replicas plus one base backup", () => {
    const stack = site({ db: { replicas: 2 } });
    expect(findings(stack, "WS-DB-WAL-SENDERS")[0]).toMatchObject({ used: 4, limit: 5, status: "pass" });
    expect(findings(stack, "WS-DB-REPLICATION-SLOTS")[0]).toMatchObject({ used: 2, limit: 3 });
  });
  test("too few senders fail; too few slots fail", () => {
    expect(failure(site({ db: { replicas: 2, maxWalSenders: 3 } }))).toContain("WS-DB-WAL-SENDERS FAILED");
    expect(failure(site({ db: { replicas: 2, maxReplicationSlots: 1 } }))).toContain("WS-DB-REPLICATION-SLOTS FAILED");
  });
});

describe("WS-DB-STANDBY-SETTINGS", () => {
  test("replicas render the primary's values", () => {
    expect(findings(site(), "WS-DB-STANDBY-SETTINGS").map((f) => f.status)).toEqual(["pass", "pass", "pass", "pass", "pass"]);
  });
  test.each(["maxConnections", "maxWorkerProcesses", "maxLocksPerTransaction"])("a lower %s on the standby fails", (field) => {
    const message = failure(site({ db: { standbyOverrides: { [field]: 1 } } }));
    expect(message).toContain("WS-DB-STANDBY-SETTINGS FAILED");
    expect(message).toContain(`remove standbyOverrides.`);
  });
});

describe("WS-DB-MEMORY", () => {
  test("derived work_mem fits", () => {
    const [f] = findings(site({ db: { memoryMiB: 2048, maxConnections: 100 } }), "WS-DB-MEMORY");
    expect(f.status).not.toBe("fail");
    expect(f.used).toBeLessThanOrEqual(2048);
  });
  test("200 connections with a large work_mem in 1 GiB fail", () => {
    expect(failure(site({ db: { memoryMiB: 1024, maxConnections: 200, workMemMiB: 16 } }))).toMatch(/WS-DB-MEMORY FAILED[\s\S]*max_connections 200 x \(work_mem 16 MiB/);
  });
});

describe("WS-REDIS-CLIENTS and WS-MEMCACHED-CONNECTIONS", () => {
  test("cache clients are nodes x processes x threads", () => {
    const [f] = findings(site({ cache: { maxClients: 100 }, web: { nodes: 2, processes: 4, threads: 2 } }), "WS-REDIS-CLIENTS");
    expect(f).toMatchObject({ used: 16, limit: 100, status: "pass" });
  });
  test("too small maxclients fail, for Redis and memcached", () => {
    expect(failure(site({ cache: { maxClients: 10 }, web: { nodes: 2, processes: 4, threads: 2 } }))).toContain("WS-REDIS-CLIENTS FAILED");
    expect(failure(site({ cache: { engine: "memcached", maxClients: 10 }, web: { nodes: 2, processes: 4, threads: 2 } }))).toContain("WS-MEMCACHED-CONNECTIONS FAILED");
  });
  test("a Redis broker counts publishers and workers", () => {
    const [f] = findings(site({ queue: { engine: "redis", maxConnections: 500 }, worker: { nodes: 2, concurrency: 3 }, web: { nodes: 1, processes: 2, threads: 2 } }), "WS-REDIS-CLIENTS");
    // publishers + workers (consumer/events + children) + result backend (app threads + worker children)
    expect(f.used).toBe(4 + 2 * (2 + 3) + 4 + 2 * 3);
  });
});

describe("WS-RABBITMQ-CONNECTIONS", () => {
  test("fits and fails", () => {
    expect(findings(site({ worker: { nodes: 1 } }), "WS-RABBITMQ-CONNECTIONS")[0].status).toBe("pass");
    expect(failure(site({ queue: { maxConnections: 10 }, worker: { nodes: 2 } }))).toContain("WS-RABBITMQ-CONNECTIONS FAILED");
  });
});

describe("WS-LB-SERVER-MAXCONN", () => {
  test("derived maxconn equals processes x threads", () => {
    const [f] = findings(site({ web: { processes: 8, threads: 2 } }), "WS-LB-SERVER-MAXCONN");
    expect(f).toMatchObject({ constructPath: "test/web", used: 16, limit: 16, status: "pass" });
  });
  test("two app routes to one tier share the node instead of each sending all it serves", () => {
    const stack = site({ web: { processes: 8, threads: 2 }, route: { name: "api" } });
    const [f] = findings(stack, "WS-LB-SERVER-MAXCONN");
    expect(f).toMatchObject({ used: 16, limit: 16, status: "pass" });
    expect(f.lines).toEqual(["test/lb backend api: maxconn 8 per server", "test/lb backend app: maxconn 8 per server", "sent to one node at most = 16", "test/web: 8 processes x 2 threads = 16 at once"]);
    expect(stack.cluster().plan.containers.find((c) => c.key === "lb")!.files[0].content).toContain("server web-1 172.30.2.10:80 maxconn 8");
  });
  test("a route overriding maxconn fails when the sum over every route passes the node's capacity", () => {
    expect(failure(site({ web: { processes: 8, threads: 2 }, route: { name: "api", maxconnPerServer: 12 } }))).toMatch(
      /\[test\/web\] WS-LB-SERVER-MAXCONN FAILED[\s\S]*20 > 16[\s\S]*fix: lower maxconnPerServer of route 'api' so the sum is at most 16/,
    );
  });
});

describe("memory rules", () => {
  test("app, worker, load balancer, cache and search fit by default", () => {
    const stack = site({ cache: {}, worker: {}, search: {} });
    for (const rule of ["WS-APP-MEMORY", "WS-WORKER-MEMORY", "WS-LB-MEMORY", "WS-CACHE-MEMORY", "WS-SEARCH-HEAP"]) {
      expect(findings(stack, rule).every((f) => f.status !== "fail")).toBe(true);
    }
  });
  test("each fails when its limit is set too low", () => {
    expect(failure(site({ web: { processes: 8, processRssMiB: 300, memoryMiB: 1024 } }))).toContain("WS-APP-MEMORY FAILED");
    expect(failure(site({ worker: { concurrency: 8, memoryMiB: 512 } }))).toContain("WS-WORKER-MEMORY FAILED");
    expect(failure(site({ lb: { maxconn: 20000, memoryMiB: 128 } }))).toContain("WS-LB-MEMORY FAILED");
    expect(failure(site({ cache: { memoryMiB: 64, maxClients: 4096 } }))).toContain("WS-CACHE-MEMORY FAILED");
    expect(failure(site({ search: { memoryMiB: 2048, heapMiB: 1536 } }))).toContain("WS-SEARCH-HEAP FAILED");
  });
  test("the search heap never passes 31 GiB", () => {
    const stack = site({ search: { memoryMiB: 128 * 1024 } });
    expect(findings(stack, "WS-SEARCH-HEAP")[0]).toMatchObject({ used: 31 * 1024, status: "pass" });
  });
});

describe("WS-CELERY-BEAT-SINGLETON", () => {
  test("two worker tiers with beat on one broker fail", () => {
    const stack = newStack();
    const db = new Database(stack, "db");
    const mq = new Queue(stack, "mq");
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db });
    new WorkerTier(stack, "a", { image: IMAGE, celeryApp: "x", queue: mq, beat: true });
    new WorkerTier(stack, "b", { image: IMAGE, celeryApp: "x", queue: mq, beat: true });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    expect(failure(stack)).toMatch(/WS-CELERY-BEAT-SINGLETON FAILED[\s\S]*test\/a: beat = true[\s\S]*test\/b: beat = true/);
  });
  test("one beat passes", () => {
    expect(findings(site({ worker: { beat: true } }), "WS-CELERY-BEAT-SINGLETON")[0]).toMatchObject({ used: 1, status: "pass" });
  });
});

describe("WS-NET-COLLISIONS", () => {
  test("two load balancers on one host port fail", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new LoadBalancer(stack, "lb2", { defaultTarget: web });
    expect(failure(stack)).toMatch(/WS-NET-COLLISIONS FAILED[\s\S]*duplicate host ports: 0.0.0.0:80/);
  });
  test("more components than address blocks fail", () => {
    const stack = newStack({ subnet: "10.9.0.0/23" });
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new Database(stack, "db");
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    expect(failure(stack)).toContain("components 3 in 1 address blocks");
  });
  test("distinct ports pass", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new LoadBalancer(stack, "lb2", { defaultTarget: web, httpPort: 8080 });
    expect(stack.cluster().findings.find((f) => f.ruleId === "WS-NET-COLLISIONS")!.status).toBe("pass");
  });
});

test("every rule has a unique id, a title and a rationale", () => {
  const ids = RULES.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const r of RULES) {
    expect(r.id).toMatch(/^WS-[A-Z-]+$/);
    expect(r.title.length).toBeGreaterThan(10);
    expect(r.rationale.length).toBeGreaterThan(10);
  }
});

test("a failing synth reports every failing rule at once", () => {
  const message = failure(site({ web: { nodes: 6, threads: 5 }, cache: { maxClients: 10 } }));
  expect(message).toContain("2 budget rules failed");
  expect(message).toContain("WS-DB-CONNECTIONS FAILED");
  expect(message).toContain("WS-REDIS-CLIENTS FAILED");
});

describe("WS-APP-BACKLOG", () => {
  test("the default backlog holds the load balancer's maxconn", () => {
    const [sent, kernel] = findings(site(), "WS-APP-BACKLOG");
    expect(sent).toMatchObject({ used: 16, limit: 1024, status: "pass" });
    expect(kernel).toMatchObject({ used: 1024, limit: 4096, status: "pass" });
  });
  test("uWSGI's own default of 100 fails behind a route sending more", () => {
    const message = failure(site({ web: { processes: 16, threads: 8, listenBacklog: 100 } }));
    expect(message).toMatch(/WS-APP-BACKLOG FAILED[\s\S]*sent to one node at most = 128[\s\S]*uWSGI listen = 100/);
  });
});

describe("WS-FILE-LIMITS", () => {
  test("the rendered ulimits fit HAProxy and nginx", () => {
    expect(findings(site(), "WS-FILE-LIMITS").every((f) => f.status === "pass")).toBe(true);
    const stack = site({ lb: { maxconn: 10000, memoryMiB: 1024 } });
    expect(stack.cluster().plan.containers.find((c) => c.key === "lb")!.ulimits).toEqual([{ name: "nofile", soft: 21024, hard: 21024 }]);
  });
});

describe("WS-TIMEOUT-CHAIN", () => {
  test("derived per-backend timeouts chain outward", () => {
    const [f] = findings(site({ web: { requestTimeoutSeconds: 120 } }), "WS-TIMEOUT-CHAIN");
    expect(f.lines).toEqual(["test/web harakiri = 120 s, from the end of the body (route-run); one timer per process (uWSGI 2.0): with 2 threads, only while no other thread finishes a request", "< nginx uwsgi_read_timeout = 125 s", "< HAProxy timeout server = 135 s (must exceed nginx by at least 1 s)"]);
    expect(f.status).toBe("pass");
  });
  test("the app server's timeout is per request with one thread per process only", () => {
    const line = (web: object) => findings(site({ web }), "WS-TIMEOUT-CHAIN")[0].lines[0];
    expect(line({ threads: 1 })).toBe("test/web harakiri = 60 s, from the end of the body (route-run)");
    expect(line({ server: "gunicorn", threads: 1 })).toBe("test/web timeout = 60 s (sync worker: the whole request, body included)");
    expect(line({ server: "gunicorn", threads: 4 })).toMatch(/not per request with gthread workers/);
  });
  test("an HAProxy timeout shorter than nginx's fails", () => {
    expect(failure(site({ web: { requestTimeoutSeconds: 120 }, lb: { timeouts: { server: 60000 } } }))).toContain("WS-TIMEOUT-CHAIN FAILED");
  });
});

describe("WS-UPLOAD-PAUSE", () => {
  const uploads = (clientPauseSeconds?: number) => ({ uploadRoutes: [{ path: "/api/files", maxBodySize: "5g", ...(clientPauseSeconds ? { clientPauseSeconds } : {}) }] });
  test("derived timeouts wait past the pause: uWSGI socket-timeout, HAProxy timeout server", () => {
    const [f] = findings(site({ web: uploads() }), "WS-UPLOAD-PAUSE");
    expect(f.lines).toEqual([
      "test/web uploadRoutes /api/files: clientPauseSeconds = 30 s (nginx client_body_timeout)",
      "< HAProxy timeout server = 75 s",
      "< test/web uWSGI socket-timeout = 35 s",
      "(each must exceed the pause by at least 1 s)",
    ]);
    expect(f.status).toBe("pass");
    // A pause longer than HAProxy's defaults lengthens them.
    const long = findings(site({ web: uploads(300) }), "WS-UPLOAD-PAUSE")[0];
    expect(long.lines.slice(1, 3)).toEqual(["< HAProxy timeout server = 305 s", "< test/web uWSGI socket-timeout = 305 s"]);
    expect(long.status).toBe("pass");
  });
  test("a timeout of the user's shorter than the pause fails, naming it", () => {
    expect(failure(site({ web: uploads(120), lb: { timeouts: { server: 90000 } } }))).toMatch(
      /WS-UPLOAD-PAUSE FAILED[\s\S]*timeout server = 90 s[\s\S]*fix: remove timeouts.server of test\/lb \(each backend then derives its own\), or raise it to at least 125000 ms/,
    );
  });
  test("a gunicorn sync worker counts the whole upload in its timeout; gthread does not", () => {
    const sync = failure(site({ web: { server: "gunicorn", threads: 1, requestTimeoutSeconds: 20, ...uploads(30) } }));
    expect(sync).toMatch(/WS-UPLOAD-PAUSE FAILED[\s\S]*gunicorn timeout \(sync worker: the whole upload counts\) = 20 s[\s\S]*fix: raise threads of test\/web to 2 or more/);
    expect(findings(site({ web: { server: "gunicorn", threads: 2, requestTimeoutSeconds: 20, ...uploads(30) } }), "WS-UPLOAD-PAUSE")[0].status).toBe("pass");
  });
  test("no upload route, nothing to measure", () => {
    expect(findings(site(), "WS-UPLOAD-PAUSE")).toEqual([]);
  });
});

describe("WS-BODY-SIZE", () => {
  test("a 50 GB route passes only to a streamed location that takes 50 GB", () => {
    const ok = site({ web: { uploadRoutes: [{ path: "/api", maxBodySize: "50g" }] }, route: { name: "files", maxBodySize: "50g" } });
    expect(findings(ok, "WS-BODY-SIZE")[0].status).toBe("pass");
    expect(failure(site({ route: { name: "files", maxBodySize: "50g" } }))).toMatch(/WS-BODY-SIZE FAILED[\s\S]*buffered[\s\S]*add uploadRoutes: \[\{ path: "\/api", maxBodySize: "50g" \}\]/);
    expect(failure(site({ web: { clientMaxBodySize: "60g" }, route: { name: "files", maxBodySize: "50g" } }))).toContain("WS-BODY-SIZE FAILED");
  });
  test("an exact or regex upload route streams only its own URLs, so it does not cover a route's whole prefix", () => {
    for (const match of ["exact", "regex"] as const) {
      const path = match === "exact" ? "/api" : "^/api/.*$";
      expect(failure(site({ web: { uploadRoutes: [{ path, match, maxBodySize: "50g" }] }, route: { name: "files", maxBodySize: "50g" } }))).toMatch(/WS-BODY-SIZE FAILED[\s\S]*buffered/);
    }
  });
  test("a small body passes the default location", () => {
    expect(findings(site({ route: { name: "forms", maxBodySize: "5m" } }), "WS-BODY-SIZE")[0].status).toBe("pass");
  });
});

describe("acknowledgements", () => {
  test("an acknowledged failure passes synth and shows its reason in the report", () => {
    const stack = site({ web: { nodes: 4, threads: 5 }, worker: { nodes: 10, concurrency: 4 } });
    Budgets.of(stack.node.findChild("db")).acknowledge("WS-DB-CONNECTIONS", "workers run only at night, when the web tier idles");
    const [f] = findings(stack, "WS-DB-CONNECTIONS");
    expect(f).toMatchObject({ status: "acknowledged", acknowledgement: "workers run only at night, when the web tier idles", used: 200 });
  });
  test("a stale acknowledgement fails synth", () => {
    const stack = site();
    Budgets.of(stack.node.findChild("db")).acknowledge("WS-DB-CONNECTIONS", "left over from last year's overcommit");
    expect(failure(stack)).toMatch(/\[test\/db\] WS-ACK-UNUSED FAILED[\s\S]*remove Budgets.of\(\.\.\.\)\.acknowledge\("WS-DB-CONNECTIONS"/);
  });
  test("an acknowledgement on another construct does not silence the finding", () => {
    const stack = site({ web: { nodes: 6, threads: 5 } });
    Budgets.of(stack.node.findChild("web")).acknowledge("WS-DB-CONNECTIONS", "the finding is on the database, not here");
    const message = failure(stack);
    expect(message).toContain("WS-DB-CONNECTIONS FAILED");
    expect(message).toContain("WS-ACK-UNUSED");
  });
  test("unknown rules and empty reasons are refused at once", () => {
    const stack = site();
    expect(() => Budgets.of(stack).acknowledge("WS-NOPE", "some long reason")).toThrow(/unknown rule 'WS-NOPE'; known rules: WS-DB-CONNECTIONS/);
    expect(() => Budgets.of(stack).acknowledge("WS-DB-CONNECTIONS", "ok")).toThrow(/reason of at least 10 characters/);
  });
});

describe("PgBouncer pooler", () => {
  test("the database budget counts PgBouncer's pools, and the pooler counts the app pools", () => {
    const stack = site({ web: { nodes: 10, processes: 8, threads: 5, poolSize: 5 }, db: { pooler: { defaultPoolSize: 40, reservePoolSize: 10 } } });
    const [db, replica] = findings(stack, "WS-DB-CONNECTIONS");
    expect(db).toMatchObject({ subject: "db client connections", used: 50, limit: 197, status: "pass" });
    expect(db.lines[0]).toBe("test/db (pgbouncer database app): min(1 user x (40 default_pool_size + 10 reserve_pool_size), max_db_connections 50) = 50");
    // The read pool reaches the replica, a server with slots of its own.
    expect(replica).toMatchObject({ subject: "db replica-1 client connections", used: 50, limit: 197 });
    expect(replica.lines[0]).toBe("test/db (pgbouncer database app_ro): min(1 user x (40 default_pool_size + 10 reserve_pool_size), max_db_connections 50) = 50");
    const [pooler] = findings(stack, "WS-POOLER-CLIENTS");
    expect(pooler).toMatchObject({ used: 400, limit: 1000, status: "pass" });
  });
  test("pools above the server's usable connections fail; clients above max_client_conn fail", () => {
    expect(failure(site({ db: { maxConnections: 50, pooler: { defaultPoolSize: 50 } } }))).toContain("WS-DB-CONNECTIONS FAILED");
    expect(failure(site({ web: { nodes: 10, processes: 8, threads: 5 }, db: { pooler: { maxClientConn: 100 } } }))).toMatch(/WS-POOLER-CLIENTS FAILED[\s\S]*400 > 100/);
  });
  test("apps connect through PgBouncer, reads to the replica database", () => {
    const stack = site({ db: { pooler: {} } });
    const app = stack.cluster().plan.containers.find((c) => c.key === "web-1-app")!;
    expect(app.env.DATABASE_URL).toBe("postgresql://app:@@secret:db_password@@@172.30.1.254:6432/app");
    expect(app.env.DATABASE_REPLICA_URL).toBe("postgresql://app:@@secret:db_password@@@172.30.1.254:6432/app_ro");
    const ini = stack.cluster().plan.containers.find((c) => c.key === "db-pooler")!.files[0].content;
    expect(ini).toContain("app = host=172.30.1.10 port=5432 dbname=app");
    expect(ini).toContain("app_ro = host=172.30.1.11 port=5432 dbname=app");
    expect(ini).toContain("pool_mode = transaction");
    expect(ini).toContain("max_db_connections = 25");
  });
});

describe("WS-DB-SYNCHRONOUS-REPLICAS", () => {
  test("one synchronous replica of one passes; two of one fail", () => {
    expect(findings(site({ db: { replicas: 1, synchronousReplicas: 1 } }), "WS-DB-SYNCHRONOUS-REPLICAS")[0].status).toBe("pass");
    expect(failure(site({ db: { replicas: 1, synchronousReplicas: 2 } }))).toContain("WS-DB-SYNCHRONOUS-REPLICAS FAILED");
  });
});

describe("WS-FILE-LIMITS fails both ways", () => {
  test("HAProxy's nofile below 2 x maxconn and nginx connections above their limit fail", () => {
    expect(failure(site({ lb: { maxconn: 4000, nofileLimit: 4096 } }))).toMatch(/WS-FILE-LIMITS FAILED[\s\S]*2 x maxconn 4000 \+ 1024/);
    expect(failure(site({ web: { nginxWorkerConnections: 4096 } }))).toMatch(/WS-FILE-LIMITS FAILED[\s\S]*2 workers x worker_connections 4096 x 2 = 16384/);
  });
});

/**
 * One over-budget stack per rule, with the construct its finding lands on. Every rule fails on its
 * case, and an acknowledgement on that construct turns the failure into "acknowledged".
 */
const overBudget: Record<string, { build: () => WebStack; on: string }> = {
  "WS-DB-CONNECTIONS": { build: () => site({ web: { nodes: 6, threads: 5 } }), on: "db" },
  "WS-POOLER-CLIENTS": { build: () => site({ web: { nodes: 10, processes: 8, threads: 5 }, db: { pooler: { maxClientConn: 100 } } }), on: "db" },
  "WS-DB-WAL-SENDERS": { build: () => site({ db: { replicas: 2, maxWalSenders: 3 } }), on: "db" },
  "WS-DB-REPLICATION-SLOTS": { build: () => site({ db: { replicas: 2, maxReplicationSlots: 1 } }), on: "db" },
  "WS-DB-SYNCHRONOUS-REPLICAS": { build: () => site({ db: { replicas: 1, synchronousReplicas: 2 } }), on: "db" },
  "WS-DB-STANDBY-SETTINGS": { build: () => site({ db: { standbyOverrides: { maxConnections: 100 } } }), on: "db" },
  "WS-DB-MEMORY": { build: () => site({ db: { memoryMiB: 1024, maxConnections: 200, workMemMiB: 16 } }), on: "db" },
  "WS-DB-ETCD-QUORUM": { build: () => site({ db: { failover: { etcdMembers: 4 } } }), on: "db" },
  "WS-ETCD-MEMORY": { build: () => site({ db: { failover: { etcdMemoryMiB: 100 } } }), on: "db" },
  "WS-PG-ROUTER-MEMORY": { build: () => site({ db: { failover: {}, pooler: { routerMemoryMiB: 32, defaultPoolSize: 40 } } }), on: "db" },
  "WS-REDIS-CLIENTS": { build: () => site({ cache: { maxClients: 10 }, web: { nodes: 2, processes: 4, threads: 2 } }), on: "cache" },
  "WS-MEMCACHED-CONNECTIONS": { build: () => site({ cache: { engine: "memcached", maxClients: 10 }, web: { nodes: 2, processes: 4, threads: 2 } }), on: "cache" },
  "WS-RABBITMQ-CONNECTIONS": { build: () => site({ queue: { maxConnections: 10 }, worker: { nodes: 2 } }), on: "mq" },
  "WS-APP-BACKLOG": { build: () => site({ web: { processes: 16, threads: 8, listenBacklog: 100 } }), on: "web" },
  "WS-FILE-LIMITS": { build: () => site({ lb: { nofileLimit: 4096 } }), on: "lb" },
  "WS-TIMEOUT-CHAIN": { build: () => site({ web: { requestTimeoutSeconds: 120 }, lb: { timeouts: { server: 60000 } } }), on: "lb" },
  "WS-UPLOAD-PAUSE": { build: () => site({ web: { uploadRoutes: [{ path: "/api/files", maxBodySize: "5g", clientPauseSeconds: 120 }] }, lb: { timeouts: { server: 90000 } } }), on: "lb" },
  "WS-BODY-SIZE": { build: () => site({ route: { name: "files", maxBodySize: "50g" } }), on: "lb" },
  "WS-LB-SERVER-MAXCONN": { build: () => site({ route: { name: "api", maxconnPerServer: 40 } }), on: "web" },
  "WS-LB-MEMORY": { build: () => site({ lb: { maxconn: 20000, memoryMiB: 128 } }), on: "lb" },
  "WS-APP-MEMORY": { build: () => site({ web: { processes: 8, processRssMiB: 300, memoryMiB: 1024 } }), on: "web" },
  "WS-WORKER-MEMORY": { build: () => site({ worker: { concurrency: 8, memoryMiB: 512 } }), on: "worker" },
  "WS-CACHE-MEMORY": { build: () => site({ cache: { memoryMiB: 64, maxClients: 4096 } }), on: "cache" },
  "WS-SEARCH-HEAP": { build: () => site({ search: { memoryMiB: 2048, heapMiB: 1536 } }), on: "search" },
  "WS-MONITORING-MEMORY": {
    build: () => {
      const stack = site();
      new Monitoring(stack, "monitoring", { memoryMiB: 128 });
      return stack;
    },
    on: "monitoring",
  },
  "WS-CELERY-BEAT-SINGLETON": {
    build: () => {
      const stack = newStack();
      const mq = new Queue(stack, "mq");
      const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, queue: mq });
      new WorkerTier(stack, "a", { image: IMAGE, celeryApp: "x", queue: mq, beat: true });
      new WorkerTier(stack, "b", { image: IMAGE, celeryApp: "x", queue: mq, beat: true });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    },
    on: "mq",
  },
  "WS-APP-DATABASE": {
    build: () => {
      const stack = newStack();
      const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    },
    on: "web",
  },
  "WS-WEB-TARGET": {
    build: () => {
      const stack = newStack();
      // Measured 80 req/s per node of 8 processes: 2 nodes serve 160, the target is 400.
      const measurement = measurementFile("test/web", [[4, 40, 20, 0, 90], [8, 80, 60, 0, 95], [16, 82, 900, 0, 96]]);
      const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, targetRps: 400, measurement });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    },
    on: "web",
  },
  "WS-NET-COLLISIONS": {
    build: () => {
      const stack = newStack();
      const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      new LoadBalancer(stack, "lb2", { defaultTarget: web });
      return stack;
    },
    on: "",
  },
};

test("the over-budget table covers every rule", () => {
  expect(Object.keys(overBudget).sort()).toEqual(RULES.map((r) => r.id).sort());
});

describe.each(Object.entries(overBudget))("%s", (ruleId, { build, on }) => {
  test("fails (or, for a warning rule, warns) on its over-budget case", () => {
    if (RULES.find((r) => r.id === ruleId)!.severity === "warning") {
      expect(build().cluster().findings.some((f) => f.ruleId === ruleId && f.status === "warn")).toBe(true);
    } else {
      expect(failure(build())).toContain(`${ruleId} FAILED`);
    }
  });
  test("an acknowledgement on the construct turns the failure into acknowledged", () => {
    const stack = build();
    const target = on === "" ? stack : stack.node.findChild(on);
    Budgets.of(target).acknowledge(ruleId, "deliberate overcommit, measured in production");
    const ours = stack.cluster().findings.filter((f) => f.ruleId === ruleId && f.constructPath === target.node.path);
    expect(ours.some((f) => f.status === "acknowledged" && f.acknowledgement === "deliberate overcommit, measured in production")).toBe(true);
  });
});
