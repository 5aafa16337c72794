/**
 * Monitoring on the real Debian 12 binaries: promtool checks and unit-tests the rendered Prometheus
 * files, Prometheus and Alertmanager start on them, and each exporter reads its real daemon through
 * the rendered wiring (addresses, roles, passwords, stub_status, HAProxy's built-in exporter).
 */
import { Cache, Database, LoadBalancer, Monitoring, Queue, WebStack, WebTier, WorkerTier } from "../../lib";
import { buildInvenioStack } from "../../examples/invenio/stack";
import { buildSmallSiteStack } from "../../examples/small-site/stack";
import { POSTGRES_EXPORTER_CONNECTIONS } from "../../lib/core/monitoring";
import { Sandbox, container, containersOf, fileIn, link, secretValue, sleep, testWith, type Container } from "./harness";
import { waitReady } from "./postgres-helpers";
import { withRedisAndExporter } from "./redis-exporter-pair";

const PROM = "/etc/prometheus";
// js-yaml 3 comes with jest's coverage tooling; the rendered files are plain YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");
/** Declares the durable celery queue as Celery does and leaves three messages on it. */
const PUBLISH_PY = [
  "import sys, kombu",
  "with kombu.Connection(sys.argv[1], connect_timeout=10) as c:",
  "    q = kombu.Queue('celery', kombu.Exchange('celery', 'direct'), routing_key='celery', durable=True)",
  "    p = c.Producer()",
  "    for i in range(3): p.publish({'i': i}, exchange=q.exchange, routing_key='celery', declare=[q])",
].join("\n");
const promtool = testWith(["promtool", "prometheus", "prometheus-alertmanager", "amtool", "prometheus-blackbox-exporter", "unshare", "nsenter", "curl"]);
const withPostgres = testWith(["/usr/lib/postgresql/15/bin/postgres", "psql", "prometheus-postgres-exporter", "unshare", "nsenter", "ip", "curl"]);
const withNginx = testWith(["nginx", "prometheus-nginx-exporter", "unshare", "nsenter", "ip", "curl"]);
const withRedis = testWith(["redis-server", "prometheus-redis-exporter", "unshare", "nsenter", "ip", "curl"]);
const withHaproxy = testWith(["haproxy", "unshare", "nsenter", "curl"]);
const withRabbitmq = testWith(["rabbitmq-server", "rabbitmqctl", "python3", "unshare", "nsenter", "curl"]);

/** The upstream images' binary names, as the e2e images link them, over Debian's package names. */
const UPSTREAM_NAMES =
  "ln -sf /usr/bin/prometheus-alertmanager /usr/local/bin/alertmanager && ln -sf /usr/bin/prometheus-blackbox-exporter /usr/local/bin/blackbox_exporter && " +
  "ln -sf /usr/bin/prometheus-postgres-exporter /usr/local/bin/postgres_exporter && ln -sf /usr/bin/prometheus-redis-exporter /usr/local/bin/redis_exporter && " +
  "ln -sf /usr/bin/prometheus-nginx-exporter /usr/local/bin/nginx-prometheus-exporter";

/** A monitored stack off the loopback range, so two linked sandboxes hold the real addresses. */
function monitoredSite(subnet: string): Container[] {
  return containersOf((scope) => {
    const stack = new WebStack(scope, "mon", { subnet });
    const db = new Database(stack, "db", { maxConnections: 60, replicas: 0, memoryMiB: 1024 });
    const cache = new Cache(stack, "cache", { memoryMiB: 256 });
    const web = new WebTier(stack, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db, cache });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new Monitoring(stack, "monitoring");
    return stack;
  });
}

const variants: [string, () => Container[]][] = [
  [
    "invenio with Monitoring and Alertmanager",
    () =>
      containersOf((s) => buildInvenioStack(s, "invenio", { monitoring: { alertmanager: {} } })),
  ],
  [
    "small-site with Monitoring",
    () =>
      containersOf((s) => {
        const stack = buildSmallSiteStack(s);
        new Monitoring(stack, "monitoring");
        return stack;
      }),
  ],
  [
    "PgBouncer, a Redis broker and Flower, two replicas, a warning share of 0.7",
    () =>
      containersOf((s) => {
        const stack = new WebStack(s, "pooled", { warnAtFraction: 0.7 });
        const db = new Database(stack, "db", { replicas: 2, pooler: {} });
        const mq = new Queue(stack, "mq", { engine: "redis" });
        const web = new WebTier(stack, "web", { image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db, queue: mq });
        new WorkerTier(stack, "worker", { image: "webstack-example-app:0.1", celeryApp: "app.tasks", beat: true, flower: true, database: db, queue: mq });
        new LoadBalancer(stack, "lb", { defaultTarget: web });
        new Monitoring(stack, "monitoring", { alertmanager: {}, replicationLagSeconds: 10 });
        return stack;
      }),
  ],
];

async function inBox<T>(name: string, files: Container["files"], body: (box: Sandbox) => Promise<T>, setup = UPSTREAM_NAMES): Promise<T> {
  const box = new Sandbox(name, { files, setup });
  try {
    await box.start();
    return await body(box);
  } finally {
    await box.stop();
  }
}

describe("promtool accepts the rendered configuration and rules, and every alert passes its unit test", () => {
  for (const [name, build] of variants) {
    promtool(`promtool check config, check rules, test rules: ${name}`, async () => {
      const prometheus = container(build(), "monitoring-prometheus");
      await inBox("promtool", prometheus.files, async (box) => {
        const config = await box.exec(["promtool", "check", "config", `${PROM}/prometheus.yml`]);
        expect({ code: config.code, out: config.stdout + config.stderr }).toMatchObject({ code: 0 });
        expect(config.stdout).toMatch(/SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
        const rules = await box.exec(["promtool", "check", "rules", `${PROM}/alerts.yml`]);
        const count = (fileIn(prometheus, `${PROM}/alerts.yml`).match(/- alert: /g) ?? []).length;
        expect({ code: rules.code, out: rules.stdout + rules.stderr }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${count} rules found`) });
        // Each alert has two cases: just over its threshold it fires with exactly its labels, just under it stays quiet.
        const tests = await box.sh(`cd ${PROM} && promtool test rules alerts.test.yml`);
        expect({ code: tests.code, out: tests.stdout + tests.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
        expect((fileIn(prometheus, `${PROM}/alerts.test.yml`).match(/alertname: /g) ?? []).length).toBe(2 * count);
      });
    });
  }

  promtool("a threshold one above the budget's makes its unit test fail, naming the alert", async () => {
    const prometheus = container(variants[0][1](), "monitoring-prometheus");
    const rules = fileIn(prometheus, `${PROM}/alerts.yml`);
    const line = /expr: "sum by \(instance\) \(webstack_connections_count\{[^}]*\}\) > ([0-9.]+)"/.exec(rules)!;
    expect(Number(line[1])).toBe(157.6); // 0.8 x (200 - 3), WS-DB-CONNECTIONS
    const mutated = rules.replace(line[0], line[0].replace(`> ${line[1]}`, `> ${Number(line[1]) + 1}`));
    const files = prometheus.files.map((f) => (f.path === `${PROM}/alerts.yml` ? { ...f, content: mutated } : f));
    await inBox("promtool-mutated", files, async (box) => {
      const tests = await box.sh(`cd ${PROM} && promtool test rules alerts.test.yml`);
      expect(tests.code).not.toBe(0);
      expect(tests.stdout + tests.stderr).toMatch(/alertname: DatabaseConnectionsHigh/);
    });
  });

  promtool("Prometheus starts on the rendered files and loads every rule; Alertmanager gets its webhook from the environment only", async () => {
    const cs = variants[0][1]();
    const prometheus = container(cs, "monitoring-prometheus");
    const alertmanager = container(cs, "monitoring-alertmanager");
    const blackbox = container(cs, "monitoring-blackbox");
    const box = new Sandbox("prometheus", {
      files: [...prometheus.files, ...alertmanager.files, ...blackbox.files],
      setup: `${UPSTREAM_NAMES} && mkdir -p /prometheus /alertmanager && chown nobody /prometheus /alertmanager`,
    });
    try {
      await box.start({ user: "nobody", argv: prometheus.command, env: prometheus.env });
      const get = async (url: string) => (await box.exec(["curl", "-s", "--max-time", "3", url])).stdout;
      await box.waitFor("prometheus ready", async () => /Ready/.test(await get("http://127.0.0.1:9090/-/ready")), 60_000);
      const loaded = JSON.parse(await get("http://127.0.0.1:9090/api/v1/rules")).data.groups.flatMap((g: any) => g.rules);
      expect(loaded).toHaveLength((fileIn(prometheus, `${PROM}/alerts.yml`).match(/- alert: /g) ?? []).length);
      const config = fileIn(prometheus, `${PROM}/prometheus.yml`);
      const configured = (config.slice(config.indexOf("scrape_configs:")).match(/- targets:/g) ?? []).length;
      const active = async () => JSON.parse(await get("http://127.0.0.1:9090/api/v1/targets")).data.activeTargets.length;
      await box.waitFor(`${configured} active targets`, async () => (await active()) === configured, 30_000);

      // A query string with & and =, which a sed replacement would have mangled.
      const webhook = "https://hooks.example.com/services/T0/B0/x?token=a&b=c";
      const am = await box.sh(`${alertmanager.command.join(" ")} >/tmp/am.log 2>&1 &`, { user: "nobody", env: { WEBSTACK_WEBHOOK_URL: webhook } });
      expect(am.code).toBe(0);
      await box.waitFor("alertmanager healthy", async () => (await box.exec(["curl", "-sf", "--max-time", "3", "http://127.0.0.1:9093/-/healthy"])).code === 0, 60_000);
      const runtime = (await box.sh("cat /alertmanager/alertmanager.yml")).stdout;
      expect(runtime).toContain(`url: "${webhook}"`);
      expect(fileIn(alertmanager, "/etc/alertmanager/alertmanager.yml")).not.toContain("hooks.example.com");
      expect((await box.exec(["amtool", "check-config", "/alertmanager/alertmanager.yml"])).stdout).toMatch(/SUCCESS/);
      expect((await box.sh("stat -c %a /alertmanager/alertmanager.yml")).stdout.trim()).toBe("600");

      const check = await box.exec(blackbox.command.concat(["--config.check"]), { user: "nobody" });
      expect({ code: check.code, out: check.stderr }).toEqual({ code: 0, out: expect.stringContaining("Config file is ok") });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- prometheus log ---\n${box.log()}\n--- alertmanager ---\n${(await box.sh("cat /tmp/am.log").catch(() => ({ stdout: "" }))).stdout}`);
    } finally {
      await box.stop();
    }
  }, 120_000);
});

describe("each exporter reads its real daemon through the rendered wiring", () => {
  const cs = monitoredSite("10.96.0.0/16");

  withPostgres("postgres_exporter: connections per application_name, its own role held to the budget's connections and to its address", async () => {
    const primary = container(cs, "db-primary");
    const exporter = container(cs, "db-primary-exporter");
    const web = container(cs, "web-1-app");
    const db = new Sandbox("pg-primary", {
      files: primary.files,
      setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
    });
    const ex = new Sandbox("pg-exporter", { files: exporter.files, setup: UPSTREAM_NAMES });
    try {
      await db.start({ user: "postgres", argv: primary.command, env: primary.env });
      await ex.start();
      await link(db, `${primary.address}/16`, ex, `${exporter.address}/16`);
      await waitReady(db, primary.address);
      // One app connection, as the web tier makes it (its DATABASE_URL names the tier).
      const app = await db.sh(`psql "$DATABASE_URL" -X -c "select pg_sleep(60)" >/tmp/hold.log 2>&1 &`, { user: "nobody", env: { DATABASE_URL: web.env.DATABASE_URL } });
      expect(app.code).toBe(0);
      const metrics = async () => (await ex.exec(["curl", "-s", "--max-time", "5", "http://127.0.0.1:9187/metrics"])).stdout;
      const started = await ex.sh(`${exporter.command.join(" ")} >/tmp/exporter.log 2>&1 & echo $! >/tmp/exporter.pid`, { user: "nobody", env: exporter.env });
      expect(started.code).toBe(0);
      await ex.waitFor("the web tier's connection in the exporter's metrics", async () => /webstack_connections_count\{application_name="web"[^}]*\} 1/.test(await metrics()), 60_000);
      const text = await metrics();
      expect(text).toMatch(/^pg_up 1$/m);
      // Its own connections, under its own name, at most the budget's figure.
      const own = Number(/webstack_connections_count\{application_name="exporter"[^}]*\} (\d+)/.exec(text)![1]);
      expect(own).toBeGreaterThanOrEqual(1);
      expect(own).toBeLessThanOrEqual(POSTGRES_EXPORTER_CONNECTIONS);
      expect(text).toMatch(/^webstack_replication_streaming\{[^}]*\} 0$/m);
      // Several scrapes, and never a connection refused to the exporter: the budget's figure is what it opens.
      for (let i = 0; i < 3; i++) expect(await metrics()).toMatch(/^pg_up 1$/m);
      expect((await ex.sh("cat /tmp/exporter.log")).stdout).not.toMatch(/too many connections/);
      expect(text).toMatch(/^pg_database_size_bytes\{[^}]*datname="app"[^}]*\} \d+/m);
      // The role's CONNECTION LIMIT is the budget's figure: with the exporter stopped, that many sessions
      // as the exporter role get in, and one more is refused by PostgreSQL itself.
      expect((await ex.sh('pid=$(cat /tmp/exporter.pid); kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done')).code).toBe(0);
      const pw = secretValue("db_exporter_password");
      const limit = POSTGRES_EXPORTER_CONNECTIONS;
      const hold = (n: number) => ex.sh(`for i in $(seq ${n}); do psql -X -At -c "select pg_sleep(30)" "host=${primary.address} user=exporter dbname=app" >/dev/null 2>&1 & done`, { user: "nobody", env: { PGPASSWORD: pw } });
      expect((await hold(limit)).code).toBe(0);
      await ex.waitFor(`${limit} exporter sessions`, async () => (await ex.sh("pgrep -c psql")).stdout.trim() === String(limit), 10_000);
      await sleep(1000);
      const extra = await ex.exec(["psql", "-X", "-At", "-c", "select 1", `host=${primary.address} user=exporter dbname=app`], { user: "nobody", env: { PGPASSWORD: pw } });
      expect(extra.stderr).toMatch(/too many connections for role "exporter"/);
      // pg_hba.conf lets the exporter in from its own address only.
      const elsewhere = await db.exec(["psql", "-X", "-At", "-c", "select 1", `host=${primary.address} user=exporter dbname=app`], { user: "nobody", env: { PGPASSWORD: pw } });
      expect(elsewhere.stderr).toMatch(/pg_hba\.conf rejects connection|no pg_hba\.conf entry/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- exporter ---\n${(await ex.sh("cat /tmp/exporter.log").catch(() => ({ stdout: "" }))).stdout.slice(-3000)}\n--- postgres ---\n${db.log()}`);
    } finally {
      await ex.stop();
      await db.stop();
    }
  }, 180_000);

  withNginx("nginx exporter: stub_status answers the node's exporter, and nobody else", async () => {
    const nginx = container(cs, "web-1-nginx");
    const exporter = container(cs, "web-1-nginx-exporter");
    const nx = new Sandbox("nginx", { files: nginx.files, setup: "mkdir -p /srv/static" });
    const ex = new Sandbox("nginx-exporter", { files: exporter.files, setup: UPSTREAM_NAMES });
    try {
      await nx.start();
      const t = await nx.exec(["nginx", "-t", "-c", "/etc/nginx/nginx.conf"]);
      expect({ code: t.code, warnings: t.stderr.split("\n").filter((l) => /\[warn\]|\[emerg\]/.test(l)) }).toEqual({ code: 0, warnings: [] });
      expect((await nx.sh(`${nginx.command.map((a) => `'${a}'`).join(" ")} >/tmp/nginx.log 2>&1 &`)).code).toBe(0);
      await ex.start();
      await link(nx, `${nginx.address}/16`, ex, `${exporter.address}/16`);
      expect((await ex.sh(`${exporter.command.join(" ")} >/tmp/exporter.log 2>&1 &`, { user: "nobody" })).code).toBe(0);
      const metrics = async () => (await ex.exec(["curl", "-s", "--max-time", "5", "http://127.0.0.1:9113/metrics"])).stdout;
      await ex.waitFor("nginx_up 1", async () => /^nginx_up 1$/m.test(await metrics()), 30_000);
      expect(await metrics()).toMatch(/^nginx_connections_accepted \d+$/m);
      const own = await nx.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", `http://${nginx.address}:8081/stub_status`]);
      expect(own.stdout).toBe("403");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- exporter ---\n${(await ex.sh("cat /tmp/exporter.log").catch(() => ({ stdout: "" }))).stdout.slice(-2000)}`);
    } finally {
      await ex.stop();
      await nx.stop();
    }
  }, 120_000);

  withRedis("redis_exporter: logs in with the cache's password; the memory alert is 90 % of the maxmemory Redis reports", async () => {
    const prometheus = container(cs, "monitoring-prometheus");
    await withRedisAndExporter(container(cs, "cache"), container(cs, "cache-exporter"), async (_rd, metrics) => {
      const maxBytes = Number(/^redis_memory_max_bytes (\S+)$/m.exec(await metrics())![1]);
      expect(maxBytes).toBe(192 * 1024 * 1024);
      const rule = /expr: "redis_memory_used_bytes\{[^}]*\} > (\d+)"/.exec(fileIn(prometheus, `${PROM}/alerts.yml`))!;
      expect(Number(rule[1])).toBe(Math.floor(0.9 * maxBytes));
      expect(await metrics()).toMatch(/^redis_connected_clients 1$/m);
    });
  }, 120_000);

  withHaproxy("HAProxy serves its built-in exporter at /metrics of the internal stats port; the stats page still wants its password", async () => {
    const lb = container(cs, "lb");
    const box = new Sandbox("haproxy-metrics", { files: lb.files, setup: "sysctl -q -w net.ipv4.ip_unprivileged_port_start=0" });
    try {
      await box.start({ user: lb.user ?? "haproxy", argv: lb.command, env: lb.env });
      const get = (path: string) => box.exec(["curl", "-s", "-w", "\n%{http_code}", "--max-time", "3", `http://127.0.0.1:8404${path}`]);
      await box.waitFor("stats port", async () => !(await get("/metrics")).stdout.endsWith("000"), 30_000);
      const metrics = (await get("/metrics")).stdout;
      expect(metrics.endsWith("\n200")).toBe(true);
      expect(metrics).toMatch(/^haproxy_server_status\{proxy="app",server="web-1",state="(DOWN|UP)"\} 1$/m);
      expect(metrics).toMatch(/^haproxy_backend_active_servers\{proxy="app"\} \d+$/m);
      expect(metrics).toMatch(/^haproxy_backend_http_responses_total\{proxy="app",code="5xx"\} \d+$/m);
      expect((await get("/stats")).stdout.endsWith("\n401")).toBe(true);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- haproxy ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  }, 60_000);

  withRabbitmq("RabbitMQ serves the prometheus plugin's metrics on 15692: the connection count, and per queue the ready messages and consumers its alerts read", async () => {
    const cs = containersOf((scope) => buildInvenioStack(scope));
    const mq = container(cs, "mq");
    expect(fileIn(mq, "/etc/rabbitmq/enabled_plugins")).toBe("[rabbitmq_prometheus].\n");
    // The per-queue job as rendered: its path and parameters.
    const job = yaml.safeLoad(fileIn(container(cs, "monitoring-prometheus"), `${PROM}/prometheus.yml`)).scrape_configs.find((j: any) => j.job_name === "rabbitmq-queues-mq");
    const query = Object.entries(job.params as Record<string, string[]>).flatMap(([k, vs]) => vs.map((v) => `${k}=${v}`)).join("&");
    const brokerUrl = String(container(cs, "worker-1").env.CELERY_BROKER_URL).replace(mq.address, "127.0.0.1");
    const node = mq.env.RABBITMQ_NODENAME;
    const env = { ...mq.env, HOME: "/var/lib/rabbitmq" };
    const box = new Sandbox("rabbitmq-metrics", {
      files: mq.files,
      hostname: node.split("@")[1],
      setup: "rm -rf /var/lib/rabbitmq && mkdir -p /var/lib/rabbitmq /var/log/rabbitmq && chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq",
    });
    try {
      await box.start({ user: mq.user ?? "rabbitmq", argv: mq.command, env });
      const metrics = async () => (await box.exec(["curl", "-s", "--max-time", "5", "http://127.0.0.1:15692/metrics"])).stdout;
      await box.waitFor("rabbitmq_connections on 15692", async () => /^rabbitmq_connections \d+$/m.test(await metrics()), 120_000);
      expect(await metrics()).toMatch(/^rabbitmq_connections 0$/m);
      // Three tasks waiting on the celery queue, no worker: what CeleryQueueGrowing and CeleryWorkerMissing read.
      const publish = await box.exec(["python3", "-c", PUBLISH_PY, brokerUrl], { user: "nobody" });
      expect({ code: publish.code, err: publish.stderr }).toEqual({ code: 0, err: "" });
      const detailed = async () => (await box.exec(["curl", "-s", "--max-time", "5", `http://127.0.0.1:15692${job.metrics_path}?${query}`])).stdout;
      await box.waitFor("the queue's ready messages", async () => /^rabbitmq_detailed_queue_messages_ready\{vhost="app",queue="celery"\} 3$/m.test(await detailed()), 30_000);
      expect(await detailed()).toMatch(/^rabbitmq_detailed_queue_consumers\{vhost="app",queue="celery"\} 0$/m);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- rabbitmq ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  }, 180_000);
});
