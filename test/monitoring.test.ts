import { Cache, Database, LoadBalancer, Monitoring, PropsError, Queue, WebTier, WorkerTier, generateAlerts, type WebStack } from "../lib";
import { DB_CONNECTIONS, RABBITMQ_CONNECTIONS, REDIS_CLIENTS } from "../lib/core/budgets/rules/clients";
import { buildInvenioStack } from "../examples/invenio/stack";
import { IMAGE, WSGI, fileOf, newStack, synthJson } from "./helpers";
import { Testing } from "cdktf";

// js-yaml 3 comes with jest's coverage tooling; the rendered files are plain YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

function site(opts: { nodes?: number; replicas?: number; monitoring?: object; warnAtFraction?: number; pooler?: boolean } = {}): WebStack {
  const stack = newStack(opts.warnAtFraction ? { warnAtFraction: opts.warnAtFraction } : {});
  const db = new Database(stack, "db", { replicas: opts.replicas ?? 1, maxConnections: 120, ...(opts.pooler ? { pooler: {} } : {}) });
  const cache = new Cache(stack, "cache");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: opts.nodes ?? 2, processes: 4, threads: 2, database: db, cache, queue: mq });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", concurrency: 3, beat: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  if (opts.monitoring !== undefined) new Monitoring(stack, "monitoring", opts.monitoring);
  return stack;
}

const prometheusYml = (stack: WebStack) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/prometheus.yml"));
const alertRules = (stack: WebStack) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/alerts.yml")).groups.flatMap((g: any) => g.rules);

/** job -> sorted instance labels of its static targets. */
function scrapeTargets(stack: WebStack): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const job of prometheusYml(stack).scrape_configs) out[job.job_name] = job.static_configs.map((s: any) => s.labels.instance).sort();
  return out;
}

describe("Monitoring", () => {
  test("is opt-in: a stack without it has no exporter, no metrics endpoint and no application_name", () => {
    const plan = site().cluster().plan;
    expect(plan.containers.filter((c) => /exporter|prometheus|alertmanager/.test(c.role))).toEqual([]);
    const all = JSON.stringify(plan);
    for (const word of ["prometheus-exporter", "stub_status", "application_name=", "rabbitmq_prometheus", "pg_monitor"]) expect(all).not.toContain(word);
  });

  test("a second Monitoring in one stack is refused, naming the first", () => {
    const stack = site({ monitoring: {} });
    expect(() => new Monitoring(stack, "again")).toThrow(PropsError);
    expect(() => new Monitoring(stack, "again2")).toThrow("[test/again2] invalid props:\n  - a stack has at most one Monitoring, and test/monitoring is already there");
  });

  test("bad props name the construct and the field", () => {
    expect(() => site({ monitoring: { scrapeIntervalSeconds: 0 } })).toThrow(/\[test\/monitoring\] invalid props:\n {2}- scrapeIntervalSeconds/);
    expect(() => site({ monitoring: { alertmanager: { webhookVariable: "Bad-Name" } } })).toThrow(/alertmanager\.webhookVariable/);
  });

  test("every target of the stack is scraped, and nothing else", () => {
    expect(scrapeTargets(site({ monitoring: {} }))).toEqual({
      prometheus: ["prometheus"],
      haproxy: ["lb"],
      nginx: ["web-1-nginx", "web-2-nginx"],
      postgres: ["db-primary", "db-replica-1"],
      redis: ["cache"],
      rabbitmq: ["mq"],
      "rabbitmq-queues-mq": ["mq"],
      uwsgi: ["web-1-app", "web-2-app"],
      containers: ["monitoring-stats-exporter"],
      blackbox: ["lb"],
    });
  });

  test("scrape targets follow the topology: a third node, a second replica, Alertmanager", () => {
    const t = scrapeTargets(site({ nodes: 3, replicas: 2, monitoring: { alertmanager: {} } }));
    expect(t.nginx).toEqual(["web-1-nginx", "web-2-nginx", "web-3-nginx"]);
    expect(t.postgres).toEqual(["db-primary", "db-replica-1", "db-replica-2"]);
    expect(t.alertmanager).toEqual(["monitoring-alertmanager"]);
    // Each exporter target is the address of the container planned for it.
    const stack = site({ nodes: 3, monitoring: {} });
    const plan = stack.cluster().plan;
    const nginx = prometheusYml(stack).scrape_configs.find((j: any) => j.job_name === "nginx");
    for (const sc of nginx.static_configs) {
      const exporter = plan.containers.find((c) => c.key === `${sc.labels.instance}-exporter`)!;
      expect(sc.targets).toEqual([`${exporter.address}:9113`]);
      expect(exporter.command.join(" ")).toContain(`http://${plan.containers.find((c) => c.key === sc.labels.instance)!.address}:8081/stub_status`);
    }
  });

  test("a worker tier's Flower is scraped at /metrics of its own port, and counted as a target", () => {
    const stack = newStack();
    const db = new Database(stack, "db", { maxConnections: 120 });
    const mq = new Queue(stack, "mq");
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, queue: mq });
    new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", flower: true, database: db, queue: mq });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new Monitoring(stack, "monitoring");
    const flowerJob = prometheusYml(stack).scrape_configs.find((j: any) => j.job_name === "flower");
    const flower = stack.cluster().plan.containers.find((c) => c.role === "flower")!;
    expect(flowerJob).toEqual({ job_name: "flower", metrics_path: "/metrics", static_configs: [{ targets: [`${flower.address}:5555`], labels: { instance: "worker-flower", component: "test/worker" } }] });
    const memory = stack.cluster().findings.find((f) => f.ruleId === "WS-MONITORING-MEMORY")!;
    const scraped = prometheusYml(stack).scrape_configs.reduce((n: number, j: any) => n + j.static_configs.length, 0);
    expect(JSON.stringify(memory)).toContain(`${scraped} targets`);
  });

  test("metrics stay on the internal network: only the load balancer publishes, unless publish asks", () => {
    const published = (s: WebStack) => s.cluster().plan.containers.filter((c) => c.publishes.length > 0).map((c) => [c.key, c.publishes]);
    expect(published(site({ monitoring: {} }))).toEqual([["lb", [{ containerPort: 80, hostPort: 80, hostIp: "0.0.0.0" }]]]);
    expect(published(site({ monitoring: { publish: { port: 9090 } } }))[1]).toEqual(["monitoring-prometheus", [{ containerPort: 9090, hostPort: 9090, hostIp: "127.0.0.1" }]]);
    // nginx's stub_status answers its exporter's address only.
    const stack = site({ monitoring: {} });
    const exporter = stack.cluster().plan.containers.find((c) => c.key === "web-1-nginx-exporter")!;
    expect(fileOf(stack, "web-1-nginx", "/etc/nginx/nginx.conf")).toContain(`stub_status;\n            allow ${exporter.address};\n            deny all;`);
  });

  test("each tier connects under its own application_name; the beat under <id>-beat", () => {
    const plan = site({ monitoring: {} }).cluster().plan;
    const url = (key: string) => plan.containers.find((c) => c.key === key)!.env.DATABASE_URL;
    expect(url("web-1-app")).toMatch(/\?target_session_attrs=read-write&application_name=web$/);
    expect(url("worker-1")).toMatch(/&application_name=worker$/);
    expect(url("worker-beat")).toMatch(/&application_name=worker-beat$/);
    expect(plan.containers.find((c) => c.key === "web-1-app")!.env.DATABASE_REPLICA_URL).toMatch(/&application_name=web$/);
    expect(plan.containers.find((c) => c.key === "db-primary-exporter")!.env.DATA_SOURCE_URI).toMatch(/application_name=exporter$/);
  });

  test("the exporters' own connections count in the budgets, and PostgreSQL enforces theirs", () => {
    const without = site();
    const withIt = site({ monitoring: {} });
    const used = (s: WebStack, rule: string) => s.cluster().findings.filter((f) => f.ruleId === rule).map((f) => f.used);
    expect(used(withIt, "WS-DB-CONNECTIONS")[0]).toBe(used(without, "WS-DB-CONNECTIONS")[0] + 2);
    expect(used(withIt, "WS-REDIS-CLIENTS")).toEqual(used(without, "WS-REDIS-CLIENTS").map((n) => n + 1));
    expect(withIt.cluster().findings.find((f) => f.ruleId === "WS-DB-CONNECTIONS")!.lines).toContain(
      "test/monitoring (postgres_exporter): 1 exporter x 2 connections (its role's CONNECTION LIMIT) = 2",
    );
    const init = fileOf(withIt, "db-primary", "/etc/postgresql/init.sql");
    expect(init).toContain("CREATE ROLE exporter WITH LOGIN PASSWORD :'exporter_password' CONNECTION LIMIT 2 IN ROLE pg_monitor;");
    const plan = withIt.cluster().plan;
    const hba = fileOf(withIt, "db-primary", "/etc/postgresql/pg_hba.conf");
    for (const key of ["db-primary-exporter", "db-replica-1-exporter"]) {
      expect(hba).toContain(`${plan.containers.find((c) => c.key === key)!.address}/32`);
    }
    // The memory rule counts Prometheus: a third node is two more targets (its nginx exporter, its uWSGI stats), more memory.
    const mem = (s: WebStack) => s.cluster().findings.find((f) => f.ruleId === "WS-MONITORING-MEMORY")!.used;
    expect(mem(site({ nodes: 3, monitoring: {} }))).toBe(mem(withIt) + 2 * 4);
  });
});

describe("alert thresholds are the budgets' numbers", () => {
  const rule = (stack: WebStack, name: string, labels: Record<string, string> = {}) =>
    alertRules(stack).filter((r: any) => r.alert === name && Object.entries(labels).every(([k, v]) => r.labels[k] === v));
  const threshold = (expr: string) => Number(/[<>] ([0-9.]+)$/.exec(expr)![1]);

  test("database connections: the warning share of WS-DB-CONNECTIONS' usable slots, on every server", () => {
    for (const [warnAtFraction, maxConnections] of [[0.8, 120], [0.7, 120]] as const) {
      const stack = site({ monitoring: {}, warnAtFraction });
      const f = stack.cluster().findings.find((x) => x.ruleId === "WS-DB-CONNECTIONS")!;
      expect(f.limit).toBe(maxConnections - 3);
      const [r] = rule(stack, "DatabaseConnectionsHigh");
      expect(threshold(r.expr)).toBeCloseTo(warnAtFraction * f.limit, 6);
      expect(r.expr).toContain('instance=~"db-primary|db-replica-1"');
    }
  });

  test("each tier's share is its own line of WS-DB-CONNECTIONS", () => {
    const stack = site({ monitoring: {} });
    const f = stack.cluster().findings.find((x) => x.ruleId === "WS-DB-CONNECTIONS")!;
    const shares = Object.fromEntries(rule(stack, "DatabaseTierOverShare").map((r: any) => [r.labels.tier, threshold(r.expr)]));
    // The rule's lines say "<source>: <formula> = <count>".
    const count = (source: string) => Number(f.lines.find((l) => l.startsWith(`${source}: `))!.split(" = ").pop());
    expect(shares).toEqual({ web: count("test/web"), worker: count("test/worker"), "worker-beat": count("test/worker (beat)"), exporter: 2 });
    expect(shares.web).toBe(2 * 4 * 2);
    // Behind PgBouncer the server sees pools, not tiers: only the exporter's share is watched there.
    expect(rule(site({ monitoring: {}, pooler: true }), "DatabaseTierOverShare").map((r: any) => r.labels.tier)).toEqual(["exporter"]);
  });

  test("replication: as many standbys streaming as the model has, lag under the stated bound", () => {
    expect(threshold(rule(site({ replicas: 2, monitoring: {} }), "ReplicaNotStreaming")[0].expr)).toBe(2);
    expect(threshold(rule(site({ monitoring: { replicationLagSeconds: 12 } }), "ReplicaLagging")[0].expr)).toBe(12);
    expect(rule(site({ replicas: 0, monitoring: {} }), "ReplicaNotStreaming")).toEqual([]);
  });

  test("replication alerts watch every member: only the primary reports the series, wherever it is after a failover", () => {
    const stack = site({ replicas: 2, monitoring: {} });
    for (const name of ["ReplicaNotStreaming", "ReplicaLagging"]) expect(rule(stack, name)[0].expr).toContain('instance=~"db-primary|db-replica-1|db-replica-2"');
    const queries = stack.cluster().plan.containers.find((c) => c.key === "db-primary-exporter")!.files.find((f) => f.path.endsWith(".yml") || f.path.endsWith(".yaml"))!.content;
    expect(queries).toMatch(/FROM pg_stat_replication HAVING NOT pg_is_in_recovery\(\)/);
  });

  test("Redis, RabbitMQ and HAProxy thresholds follow their rules and props", () => {
    const stack = site({ monitoring: {} });
    const findings = stack.cluster().findings;
    const redis = findings.find((x) => x.ruleId === REDIS_CLIENTS.id && x.constructPath === "test/cache")!;
    expect(threshold(rule(stack, "RedisClientsHigh", { component: "test/cache" })[0].expr)).toBeCloseTo(0.8 * redis.limit, 6);
    // maxmemory is three quarters of the 512 MiB limit; WS-CACHE-MEMORY warns at 90 %.
    expect(threshold(rule(stack, "RedisMemoryNearMax")[0].expr)).toBe(Math.floor(0.9 * 384 * 1024 * 1024));
    const rabbit = findings.find((x) => x.ruleId === RABBITMQ_CONNECTIONS.id)!;
    expect(threshold(rule(stack, "RabbitmqConnectionsHigh")[0].expr)).toBeCloseTo(0.8 * rabbit.limit, 6);
    expect(threshold(rule(stack, "ServerQueueNearMaxqueue")[0].expr)).toBeCloseTo(0.8 * 64, 6);
    expect(threshold(rule(site({ monitoring: { errorRatio: 0.02 } }), "HighErrorRate")[0].expr)).toBe(0.02);
    expect(rule(stack, "BackendServerDown")[0].for).toBe("30s");
    // One worker tier of one node consumes the celery queue here.
    expect(threshold(rule(stack, "CeleryWorkerMissing", { queue: "celery" })[0].expr)).toBe(1);
  });

  test("every alert says where its number comes from, and the rule file matches the generated list", () => {
    const stack = site({ monitoring: {} });
    const alerts = generateAlerts(stack.cluster().topology);
    expect(alertRules(stack).map((r: any) => r.alert)).toEqual(alerts.map((a) => a.name));
    for (const r of alertRules(stack)) expect(r.annotations.source.length).toBeGreaterThan(10);
    expect(alerts.find((a) => a.name === "DatabaseConnectionsHigh")!.source).toContain(`WS-DB-CONNECTIONS: warning share 0.8 x usable 117`);
    expect(DB_CONNECTIONS.warnAt).toBeUndefined();
  });
});

describe("Alertmanager", () => {
  test("the webhook URL is a sensitive variable validated as a URL, and never in a rendered file", () => {
    const stack = site({ monitoring: { alertmanager: { webhookVariable: "ops_webhook" } } });
    const tf = synthJson(stack);
    expect(tf.variable.ops_webhook).toMatchObject({ sensitive: true, type: "string" });
    expect(tf.variable.ops_webhook.validation[0].condition).toContain("https?://");
    expect(tf.variable.ops_webhook.default).toBeUndefined();
    const am = tf.resource.docker_container["container-monitoring-alertmanager"];
    expect(JSON.stringify(am.env)).toContain("WEBSTACK_WEBHOOK_URL=${var.ops_webhook}");
    expect(fileOf(stack, "monitoring-alertmanager", "/etc/alertmanager/alertmanager.yml")).toContain('url: "WEBSTACK_WEBHOOK_URL_AT_START"');
    expect(yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/prometheus.yml")).alerting.alertmanagers[0].static_configs[0].targets).toEqual([
      `${stack.cluster().plan.containers.find((c) => c.key === "monitoring-alertmanager")!.address}:9093`,
    ]);
  });
});

test("the invenio example is monitored: 33 alerts, its scrape targets, within its budgets", () => {
  const stack = buildInvenioStack(Testing.app());
  const { findings } = stack.cluster();
  expect(findings.filter((f) => f.status === "fail")).toEqual([]);
  expect(alertRules(stack)).toHaveLength(33);
  // The Celery queue's consumers: the two workers of invenio/worker.
  expect(alertRules(stack).find((r: any) => r.alert === "CeleryWorkerMissing").expr).toMatch(/queue="celery"\}\) < 2$/);
  expect(scrapeTargets(stack).nginx).toEqual(["files-1-nginx", "files-2-nginx", "web-1-nginx", "web-2-nginx"]);
  // Every uWSGI node's stats server, through the one stats exporter; invenio's cache is Redis, so no memcached job.
  expect(scrapeTargets(stack).uwsgi).toEqual(["files-1-app", "files-2-app", "web-1-app", "web-2-app"]);
  expect(scrapeTargets(stack).memcached).toBeUndefined();
  // Its search cluster (one node) through one elasticsearch_exporter, named after the cluster.
  expect(scrapeTargets(stack).elasticsearch).toEqual(["search"]);
});

test("a Redis broker: its exporter reads each consumed queue's list, CeleryQueueGrowing reads its length; a Redis cache reads none", () => {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 0, maxConnections: 120 });
  const cache = new Cache(stack, "cache");
  const mq = new Queue(stack, "mq", { engine: "redis" });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, cache, queue: mq });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", queues: ["celery", "mail"], database: db, queue: mq });
  new WorkerTier(stack, "mailer", { image: IMAGE, celeryApp: "app.tasks", queues: ["mail"], concurrency: 2, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  new Monitoring(stack, "monitoring");
  const command = (key: string) => stack.cluster().plan.containers.find((c) => c.key === key)!.command;
  expect(command("mq-exporter")).toContain("--check-single-keys=db0=celery,db0=mail");
  expect(command("cache-exporter").some((a) => a.startsWith("--check-single-keys"))).toBe(false);
  const growing = alertRules(stack).filter((r: any) => r.alert === "CeleryQueueGrowing");
  expect(growing.map((r: any) => [r.labels.queue, r.expr])).toEqual([
    ["celery", 'redis_key_size{job="redis",instance="mq",db="db0",key="celery"} > 0 and deriv(redis_key_size{job="redis",instance="mq",db="db0",key="celery"}[10m]) > 0'],
    ["mail", 'redis_key_size{job="redis",instance="mq",db="db0",key="mail"} > 0 and deriv(redis_key_size{job="redis",instance="mq",db="db0",key="mail"}[10m]) > 0'],
  ]);
  // Both tiers consume mail: its capacity is theirs together (1 x 4 + 1 x 2 processes).
  expect(growing[1].annotations.summary).toContain("its 6 worker processes");
  // Redis has no consumers to count: no CeleryWorkerMissing on a Redis broker.
  expect(alertRules(stack).filter((r: any) => r.alert === "CeleryWorkerMissing")).toEqual([]);
});
