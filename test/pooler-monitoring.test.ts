/**
 * PgBouncer under Monitoring: the stats exporter reads each pooler's admin console as a stats user
 * whose password comes from a sensitive variable; the scrape job, the user list, the client budget
 * and the alerts follow the model, and a stack without a pooler or without Monitoring gets none of it.
 * Also the RabbitMQ unacknowledged-messages alert, whose threshold is the workers' prefetch.
 */
import { Database, LoadBalancer, Monitoring, PropsError, Queue, WebTier, WorkerTier, generateAlerts, type WebStack } from "../lib";
import { secretRef } from "../lib/core/secrets";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

const POOLER = { defaultPoolSize: 7, reservePoolSize: 3, maxClientConn: 200 };

function site(o: { pooler?: boolean; monitoring?: boolean; user?: string } = {}): WebStack {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 1, maxConnections: 120, ...(o.pooler ? { pooler: POOLER } : {}), ...(o.user ? { user: o.user } : {}) });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, processes: 4, threads: 2, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  if (o.monitoring) new Monitoring(stack, "monitoring");
  return stack;
}

const container = (stack: WebStack, key: string) => stack.cluster().plan.containers.find((c) => c.key === key);
const jobs = (stack: WebStack) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/prometheus.yml")).scrape_configs as any[];
const alertNames = (stack: WebStack) => generateAlerts(stack.cluster().topology).map((a) => a.name);

describe("PgBouncer metrics", () => {
  test("a pooler in a monitored stack: the stats exporter probes its console as the stats user, with the password from a sensitive variable only", () => {
    const stack = site({ pooler: true, monitoring: true });
    const pooler = container(stack, "db-pooler")!;
    const exporter = container(stack, "monitoring-stats-exporter")!;
    const target = `${pooler.address}:6432`;
    const job = jobs(stack).find((j) => j.job_name === "pgbouncer");
    expect(job.metrics_path).toBe("/probe");
    expect(job.params).toEqual({ module: ["pgbouncer"] });
    expect(job.static_configs).toEqual([{ targets: [target], labels: { instance: "db-pooler", component: "test/db" } }]);
    // The exporter may read that console only, as webstack_stats, with the password in the variable the targets file names.
    const targets = JSON.parse(fileOf(stack, "monitoring-stats-exporter", "/etc/webstack-exporter/targets.json"));
    expect(targets.pgbouncer).toEqual([target]);
    expect(targets.logins).toEqual({ [target]: { user: "webstack_stats", passwordEnv: "WEBSTACK_PGBOUNCER_STATS_PASSWORD_DB" } });
    const secret = secretRef("db_pgbouncer_stats_password");
    expect(exporter.env.WEBSTACK_PGBOUNCER_STATS_PASSWORD_DB).toBe(secret);
    expect(exporter.files.map((f) => f.path)).toContain("/etc/webstack-exporter/pgbouncer_probe.py");
    // PgBouncer: the stats user in stats_users and in the user list its start script writes from the environment.
    expect(pooler.env.WEBSTACK_PGBOUNCER_STATS_PASSWORD).toBe(secret);
    expect(fileOf(stack, "db-pooler", "/etc/pgbouncer/pgbouncer.ini")).toMatch(/^stats_users = webstack_stats$/m);
    expect(fileOf(stack, "db-pooler", "/etc/pgbouncer/pgbouncer.ini")).not.toMatch(/^admin_users/m);
    const start = fileOf(stack, "db-pooler", "/etc/pgbouncer/start.sh");
    expect(start).toContain(`printf '"%s" "%s"\\n' 'webstack_stats' "$WEBSTACK_PGBOUNCER_STATS_PASSWORD" >> /tmp/pgbouncer-userlist.txt`);
    // Never in a rendered file; declared as a sensitive variable.
    for (const c of stack.cluster().plan.containers) for (const f of c.files) expect(f.content).not.toContain(secret);
    expect(stack.cluster().plan.secrets.map((s) => s.name)).toContain("db_pgbouncer_stats_password");
    // Internal only: nothing publishes the exporter's port.
    expect(exporter.publishes ?? []).toEqual([]);
  });

  test("no pooler, or no Monitoring: no pgbouncer job, no probe module, no stats user", () => {
    const unpooled = site({ monitoring: true });
    expect(jobs(unpooled).map((j) => j.job_name)).not.toContain("pgbouncer");
    expect(container(unpooled, "monitoring-stats-exporter")!.files.map((f) => f.path)).not.toContain("/etc/webstack-exporter/pgbouncer_probe.py");
    expect(JSON.parse(fileOf(unpooled, "monitoring-stats-exporter", "/etc/webstack-exporter/targets.json"))).toEqual({ uwsgi: expect.any(Array), memcached: [], containers: expect.any(Object) });
    expect(alertNames(unpooled).filter((n) => n.startsWith("Pgbouncer"))).toEqual([]);

    const unmonitored = site({ pooler: true });
    expect(unmonitored.cluster().plan.containers.filter((c) => /exporter|prometheus/.test(c.role))).toEqual([]);
    expect(fileOf(unmonitored, "db-pooler", "/etc/pgbouncer/pgbouncer.ini")).not.toMatch(/stats_users/);
    expect(fileOf(unmonitored, "db-pooler", "/etc/pgbouncer/start.sh")).not.toContain("webstack_stats");
    expect(Object.keys(container(unmonitored, "db-pooler")!.env)).toEqual(["WEBSTACK_DB_PASSWORD"]);
    expect(unmonitored.cluster().plan.secrets.map((s) => s.name)).not.toContain("db_pgbouncer_stats_password");
  });

  test("WS-POOLER-CLIENTS counts the exporter's console connection", () => {
    const finding = (s: WebStack) => s.cluster().findings.find((f) => f.ruleId === "WS-POOLER-CLIENTS")!;
    expect(finding(site({ pooler: true, monitoring: true })).used).toBe(finding(site({ pooler: true })).used + 1);
    expect(finding(site({ pooler: true, monitoring: true })).lines).toContain("test/monitoring (stats exporter): 1 admin console connection per scrape = 1");
  });

  test("the alerts' thresholds are the model's pool size, max_db_connections, reserve_pool_timeout and max_client_conn share", () => {
    const stack = site({ pooler: true, monitoring: true });
    const alerts = generateAlerts(stack.cluster().topology).filter((a) => a.name.startsWith("Pgbouncer"));
    const expr = (name: string) => alerts.find((a) => a.name === name)!.expr;
    expect(alerts.map((a) => a.name)).toEqual(["PgbouncerDown", "PgbouncerClientsWaiting", "PgbouncerPoolBusy", "PgbouncerServerConnectionsAtMax", "PgbouncerClientsHigh"]);
    expect(expr("PgbouncerPoolBusy")).toMatch(new RegExp(`>= ${POOLER.defaultPoolSize}$`));
    expect(expr("PgbouncerServerConnectionsAtMax")).toMatch(new RegExp(`>= ${POOLER.defaultPoolSize + POOLER.reservePoolSize}$`));
    // The ini's reserve_pool_timeout is the waiting alert's threshold.
    const timeout = /^reserve_pool_timeout = (\d+)$/m.exec(fileOf(stack, "db-pooler", "/etc/pgbouncer/pgbouncer.ini"))![1];
    expect(expr("PgbouncerClientsWaiting")).toMatch(new RegExp(`\\} > ${timeout}$`));
    const share = stack.cluster().topology.settings.warnAtFraction;
    expect(expr("PgbouncerClientsHigh")).toMatch(new RegExp(`\\} > ${share * POOLER.maxClientConn}$`));
    for (const a of alerts) expect(a.expr).toContain('job="pgbouncer",instance="db-pooler"');
  });

  test("a database user named like the stats user is refused in a monitored stack", () => {
    expect(() => site({ pooler: true, monitoring: true, user: "webstack_stats" }).cluster()).toThrow(PropsError);
    expect(() => site({ pooler: true, monitoring: true, user: "webstack_stats" }).cluster()).toThrow(/user: 'webstack_stats' is PgBouncer's stats user/);
    expect(() => site({ pooler: true, user: "webstack_stats" }).cluster()).not.toThrow();
  });
});

describe("RabbitMQ unacknowledged messages", () => {
  test("CeleryUnackedHigh fires above what the queue's workers may prefetch: workers x concurrency x prefetch multiplier, summed over tiers", () => {
    const stack = newStack();
    const mq = new Queue(stack, "mq");
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, queue: mq });
    new WorkerTier(stack, "fast", { image: IMAGE, celeryApp: "app.tasks", nodes: 2, concurrency: 3, prefetchMultiplier: 4, queue: mq });
    new WorkerTier(stack, "slow", { image: IMAGE, celeryApp: "app.tasks", nodes: 1, concurrency: 5, queue: mq });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new Monitoring(stack, "monitoring");
    const rule = generateAlerts(stack.cluster().topology).find((a) => a.name === "CeleryUnackedHigh")!;
    expect(rule.expr).toBe('rabbitmq_detailed_queue_messages_unacked{job="rabbitmq-queues-mq",instance="mq",vhost="app",queue="celery"} > 29');
    expect(rule.source).toBe("the model: test/fast: 2 workers x concurrency 3 x prefetchMultiplier 4 + test/slow: 1 workers x concurrency 5 x prefetchMultiplier 1");
    // The rendered workers say the same: --concurrency and --prefetch-multiplier on their command lines.
    const held = stack.cluster().plan.containers.filter((c) => c.role === "celery-worker").map((c) => {
      const arg = (name: string) => Number(c.command.find((a) => a.startsWith(`--${name}=`))!.split("=")[1]);
      return arg("concurrency") * arg("prefetch-multiplier");
    });
    expect(held.reduce((a, b) => a + b, 0)).toBe(29);
  });
});
