/**
 * End-to-end: examples/invenio (28 containers: HAProxy, nginx + uWSGI web and files tiers, Celery
 * workers and beat, PostgreSQL primary + replica, Redis, RabbitMQ, Elasticsearch, which here is
 * the STUB image, and Monitoring: Prometheus, the blackbox prober, the exporters and the stats exporter). Synth, apply, wait healthy, GET /ping and /hits?write=1 through the load balancer
 * on 127.0.0.1:80, /cache twice (Redis hit) and /task?x=2&y=3 (Celery via RabbitMQ); then, on the same
 * apply: one X-Request-ID in the HAProxy, an nginx and a uWSGI log; a row committed on the primary visible
 * on the asynchronous replica (which refuses writes); the model's WS-DB-CONNECTIONS limit is PostgreSQL's
 * own (that many app-role connections fit, one more is refused); Prometheus scrapes every target with
 * up == 1 and the probe through the load balancer succeeds; a stopped web node fires BackendServerDown
 * within its `for` window and the alert clears once it is back; destroy (also in afterAll after a
 * failure). See smoke.test.ts for the conventions; figures are printed as `FIGURE <name>: <value>`.
 */
import { randomBytes } from "node:crypto";
import { Testing } from "cdktf";
import type { buildInvenioStack } from "../../examples/invenio/stack";
import { buildInvenioOnE2eEngine, E2E_ENGINE_CGROUP_DRIVER } from "./fixtures/invenio-e2e-engine";
import { call } from "./docker-api";
import { monitoringSlots } from "../../lib/core/layout";
import { monitoringOf, monitoringTargetCount } from "../../lib/core/monitoring";
import { apply, engineNofileHardLimit, exec, generateVariables, waitHealthy } from "./applier";
import { figure, logLines, psql, PSQL, req, sleep, startContainer, startLoad, stopContainer } from "./scenarios";
import { expectFaultsFireTheirAlerts } from "./monitoring-scenarios";
import { expectContainerMemoryRead, expectMemoryNearLimitFires } from "./container-memory-scenario";
import { expectTopReportsLiveFigures } from "./top-scenario";
import { expectConnectionBudget, expectDestroyed, expectRequestIdTraced, expectTaskRequestIdTraced } from "./shared-scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 80; // invenio's LoadBalancer httpPort
/** Prints the container's memory as its cgroup counts it (v2 memory.current, else v1) and PID 1's RSS in KiB. */
const MEMORY_PY = [
  "import os",
  "p = [f for f in ('/sys/fs/cgroup/memory.current', '/sys/fs/cgroup/memory/memory.usage_in_bytes') if os.path.exists(f)][0]",
  "rss = [l.split()[1] for l in open('/proc/1/status') if l.startswith('VmRSS:')][0]",
  "print(open(p).read().strip(), rss)",
].join("\n");
const log = (...a: unknown[]) => process.stdout.write(`[e2e invenio] ${a.join(" ")}\n`);

describeE2e("e2e: examples/invenio on a real Docker engine (elasticsearch is a STUB)", () => {
  const session = newSession();
  // What the model says, built in-process (in beforeAll, so a skipped run builds nothing).
  type Cluster = ReturnType<ReturnType<typeof buildInvenioStack>["cluster"]>;
  let cluster: Cluster;
  const spec = (key: string) => {
    const s = cluster.plan.containers.find((c) => c.key === key);
    if (!s) throw new Error(`no container ${key} in the model`);
    return s;
  };
  /** The database name in the app's DATABASE_URL (postgresql://user:pw@hosts/NAME?...). */
  const dbName = () => {
    const u = String(spec("web-1-app").env.DATABASE_URL);
    return /\/([^/?]+)/.exec(u.slice(u.lastIndexOf("@")))![1];
  };
  /** Set once the first test saw the stack healthy and serving; the later ones need it. */
  let serving = false;

  beforeAll(async () => {
    cluster = buildInvenioOnE2eEngine(Testing.app()).cluster();
    await openSession(session, "invenio", log, "test/e2e/fixtures/invenio-e2e-engine.ts");
    // A driver that is not the engine's: dockerd refuses the containers (systemd), or the exporter finds no cgroup.
    const info = await call<{ CgroupDriver: string }>("GET", "/info");
    expect(info.CgroupDriver).toBe(E2E_ENGINE_CGROUP_DRIVER);
  });

  afterAll(() => closeSession(session, log));

  test("applies, becomes healthy, serves /ping, /hits?write=1, /cache (hit) and /task (Celery) via 127.0.0.1:80", async () => {
    const cap = engineNofileHardLimit();
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true, ulimitCap: cap });
    const handle = session.handle;
    for (const d of handle.deviations) log(`DEVIATION (engine nofile hard limit ${cap}): ${d}`);
    log(`applied ${handle.containers.length} containers in ${handle.applyMs} ms`);
    const health = await waitHealthy(handle, 300_000);
    log(`health after ${(health.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(health.status)}`);
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");
    // The README's figure for invenio (17 containers) has this bound, as small-site's has.
    expect(health.elapsedMs).toBeLessThanOrEqual(120_000);

    let ping = { status: 0, body: "" };
    for (let i = 0; i < 8 && ping.status !== 200; i++) {
      ping = await req(LB_PORT, "GET", "/ping").catch((e: Error) => ({ status: 0, body: String(e) }));
      if (ping.status !== 200) await sleep(2000);
    }
    log(`GET http://127.0.0.1:80/ping -> ${ping.status}`);
    expect(ping.status).toBe(200);
    const hits = await req(LB_PORT, "GET", "/hits?write=1");
    log(`GET http://127.0.0.1:80/hits?write=1 -> ${hits.status} ${hits.body.trim()}`);
    expect(hits.status).toBe(201);
    expect((JSON.parse(hits.body) as { role: string }).role).toBe("primary");

    // Cache: two probes; the second finds the key the first set (Redis, shared by every process).
    const c1 = await req(LB_PORT, "GET", "/cache");
    const c2 = await req(LB_PORT, "GET", "/cache");
    log(`GET /cache -> ${c1.status} ${c1.body.trim()} | ${c2.status} ${c2.body.trim()}`);
    expect(c1.status).toBe(200);
    expect(c2.status).toBe(200);
    expect(JSON.parse(c2.body)).toMatchObject({ backend: "redis", hit: true, stored: true });

    // Celery round trip: the app publishes tasks.add to RabbitMQ, a worker runs it, the result comes back.
    let task = { status: 0, body: "" };
    for (let i = 0; i < 5 && task.status !== 200; i++) {
      task = await req(LB_PORT, "GET", "/task?x=2&y=3", {}, 20_000).catch((e: Error) => ({ status: 0, body: String(e) }));
      if (task.status !== 200) await sleep(2000);
    }
    log(`GET /task?x=2&y=3 -> ${task.status} ${task.body.trim()}`);
    expect(task.status).toBe(200);
    expect((JSON.parse(task.body) as { result: number }).result).toBe(5);
    serving = true;
  });

  test("one X-Request-ID is in the HAProxy, an nginx and a uWSGI app log", async () => {
    expect(serving).toBe(true);
    await expectRequestIdTraced({ port: LB_PORT, containers: cluster.plan.containers, appRole: "uwsgi", lbName: spec("lb").name, log });
  });

  test("one /task request's X-Request-ID is in the HAProxy, an nginx, a uWSGI app and a Celery worker's log (beside its task id)", async () => {
    expect(serving).toBe(true);
    await expectTaskRequestIdTraced({ port: LB_PORT, containers: cluster.plan.containers, appRole: "uwsgi", lbName: spec("lb").name, log });
  });

  test("a row committed on the primary is visible on the asynchronous replica; the replica refuses writes", async () => {
    expect(serving).toBe(true);
    const [PRIMARY, REPLICA] = [spec("db-primary"), spec("db-replica-1")];
    const db = dbName();
    const tag = `e2e-repl-${randomBytes(6).toString("hex")}`;
    // As in cluster.test.ts: the replica polls (every 50 ms, at most 100 times = 5 s + psql time) for the
    // row and prints the time it saw it; the primary prints the time just before its psql starts the
    // insert. Both clocks are the host's: visible_ms is an upper bound (psql start-up included).
    const script =
      'i=0; while [ $i -lt 100 ]; do n=$(psql -h /var/run/postgresql -U postgres -d "$1" -Atqc "select count(*) from hits where request_id = \'$2\'"); ' +
      'if [ "$n" = 1 ]; then date +%s%N; echo "polls=$((i+1))"; exit 0; fi; i=$((i+1)); sleep 0.05; done; echo never; exit 1';
    const poller = exec(REPLICA.name, ["sh", "-c", script, "sh", db, tag], "postgres");
    await sleep(500);
    const ins = await exec(PRIMARY.name, ["sh", "-c", 'date +%s%N; psql -h /var/run/postgresql -U postgres -d "$1" -Atqc "$2"', "sh", db, `insert into hits (request_id) values ('${tag}') returning id`], "postgres");
    log(`insert on the primary: exit ${ins.exitCode}: ${ins.output.trim().replace(/\n/g, " ")}`);
    expect(ins.exitCode).toBe(0);
    const [t0, id] = ins.output.trim().split("\n").map((x) => x.trim());
    expect(id).toMatch(/^\d+$/);
    const seen = await poller;
    log(`replica poll: exit ${seen.exitCode}: ${seen.output.trim().replace(/\n/g, " ")}`);
    expect(seen.exitCode).toBe(0);
    const visibleMs = Number(BigInt(seen.output.trim().split("\n")[0]) - BigInt(t0)) / 1e6;
    figure("invenio_replication_visible_ms", visibleMs.toFixed(1));
    // Asynchronous streaming replication: no commit waits for the replica, so only a bound, not a promise.
    expect(visibleMs).toBeLessThan(5000);
    expect(await psql(REPLICA.name, db, "select pg_is_in_recovery()")).toBe("t");
    expect(await psql(PRIMARY.name, db, "show synchronous_standby_names")).toBe("");

    const write = await exec(REPLICA.name, PSQL(db, `insert into hits (request_id) values ('${tag}-replica')`), "postgres");
    log(`write on the replica: exit ${write.exitCode}: ${write.output.trim()}`);
    expect(write.exitCode).not.toBe(0);
    expect(write.output).toMatch(/cannot execute INSERT in a read-only transaction/);
  });

  /** Prometheus' HTTP API, asked from inside its container (it listens on the internal network only). */
  const prometheus = async (apiPath: string): Promise<any> => {
    const r = await exec(spec("monitoring-prometheus").name, ["wget", "-qO-", `http://127.0.0.1:9090${apiPath}`]);
    if (r.exitCode !== 0) throw new Error(`wget ${apiPath} in Prometheus exited ${r.exitCode}: ${r.output}`);
    return JSON.parse(r.output).data;
  };
  const query = async (q: string) => (await prometheus(`/api/v1/query?query=${encodeURIComponent(q)}`)).result as Array<{ metric: Record<string, string>; value: [number, string] }>;

  test("Prometheus scrapes every target of the model and each reports up == 1; the probe through the load balancer succeeds", async () => {
    expect(serving).toBe(true);
    const slots = monitoringSlots(monitoringOf(cluster.topology)!, cluster.topology);
    const expected = monitoringTargetCount(cluster.topology, slots.exporters.length, false, slots.probed.length);
    let up: Awaited<ReturnType<typeof query>> = [];
    const t0 = Date.now();
    // Each target's first scrape comes within one scrape interval (15 s) of Prometheus' start.
    while (Date.now() - t0 < 120_000) {
      up = await query("up");
      if (up.length === expected && up.every((s) => s.value[1] === "1")) break;
      await sleep(3000);
    }
    log(`up: ${up.map((s) => `${s.metric.job}/${s.metric.instance}=${s.value[1]}`).sort().join(" ")}`);
    expect(up.filter((s) => s.value[1] !== "1").map((s) => `${s.metric.job}/${s.metric.instance}`)).toEqual([]);
    expect(up).toHaveLength(expected);
    figure("invenio_prometheus_targets_up", up.length);
    const probe = await query("probe_success");
    expect(probe.map((s) => [s.metric.instance, s.value[1]])).toEqual([["lb", "1"]]);
    // The search exporter reads the stub's health answer, green (a stub, not Elasticsearch: its health only).
    const health = (await query('{job="elasticsearch",__name__=~"elasticsearch_cluster_health_up|elasticsearch_cluster_health_status",color=~"|green"}')).map((s) => [s.metric.__name__, s.metric.instance, s.value[1]]);
    expect(health.sort()).toEqual([["elasticsearch_cluster_health_status", "search", "1"], ["elasticsearch_cluster_health_up", "search", "1"]]);
    // Each tier's connections under its own name, as the tier-share alerts read them: requests that hold a
    // connection for a second, 4 at a time, across two scrapes (the example app returns idle connections).
    const load = startLoad(LB_PORT, 4, "/db/hold?s=1", 35_000);
    const held = await load.done;
    log(`/db/hold load: ${JSON.stringify(held)}`);
    expect(held.failed).toBe(0);
    const tiers = await query('max by (application_name) (max_over_time(webstack_connections_count{instance="db-primary"}[1m]))');
    const byName = Object.fromEntries(tiers.map((s) => [s.metric.application_name, Number(s.value[1])]));
    log(`most connections by application_name on the primary over the last minute: ${JSON.stringify(byName)}`);
    if (byName.web === undefined) {
      const lines = await logLines("invenio-db-primary-exporter", Date.now() - 120_000);
      log(`the primary's exporter, last lines:\n${lines.slice(-15).map((l) => l.line).join("\n")}`);
    }
    const share = (name: string) => cluster.findings.find((f) => f.ruleId === "WS-DB-CONNECTIONS")!.lines.find((l) => l.startsWith(`invenio/${name}: `))!;
    expect(byName.web).toBeGreaterThanOrEqual(1);
    expect(byName.web).toBeLessThanOrEqual(Number(share("web").split(" = ").pop()));
    expect(byName.exporter).toBeGreaterThanOrEqual(1);
    expect(byName.exporter).toBeLessThanOrEqual(2);
    // The celery queue has a consumer per worker of the model, as CeleryWorkerMissing expects.
    const consumers = await query('sum by (queue) (rabbitmq_detailed_queue_consumers{instance="mq",queue="celery"})');
    log(`consumers of the celery queue: ${JSON.stringify(consumers.map((c) => c.value[1]))}`);
    expect(consumers.map((c) => Number(c.value[1]))).toEqual([cluster.topology.components.filter((c) => c.kind === "workerTier").reduce((n, c) => n + (c.settings as { nodes: number }).nodes, 0)]);
    const firing = (await prometheus("/api/v1/alerts")).alerts.filter((a: { state: string }) => a.state === "firing");
    log(`alerts firing on the healthy cluster: ${JSON.stringify(firing.map((a: { labels: Record<string, string> }) => a.labels.alertname))}`);
    expect(firing).toEqual([]);
  }, 180_000);

  test("the stats exporter reads every uWSGI node through Prometheus: up, its workers, request slots and listen backlog as the model has them; its memory within its limit", async () => {
    expect(serving).toBe(true);
    const tiers = cluster.topology.components.filter((c) => c.kind === "webTier" && c.settings.server === "uwsgi") as Array<{ id: string; settings: { nodes: number; processes: number; threads: number; listenBacklog: number } }>;
    const byInstance = async (q: string) => Object.fromEntries((await query(q)).map((s) => [s.metric.instance, Number(s.value[1])]));
    const want = (f: (s: (typeof tiers)[number]["settings"]) => number) =>
      Object.fromEntries(tiers.flatMap((t) => Array.from({ length: t.settings.nodes }, (_, n) => [`${t.id}-${n + 1}-app`, f(t.settings)])));
    const up = await byInstance('uwsgi_up{job="uwsgi"}');
    log(`uwsgi_up: ${JSON.stringify(up)}`);
    expect(up).toEqual(want(() => 1));
    expect(await byInstance('sum by (instance) (uwsgi_workers{job="uwsgi"})')).toEqual(want((s) => s.processes));
    expect(await byInstance('uwsgi_cores{job="uwsgi"}')).toEqual(want((s) => s.processes * s.threads));
    expect(await byInstance('max by (instance) (uwsgi_socket_listen_queue_max{job="uwsgi"})')).toEqual(want((s) => s.listenBacklog));
    // The requests served so far (the earlier tests' traffic) reached the web tier's counters.
    const served = await byInstance('uwsgi_requests_total{job="uwsgi",instance=~"web-.*"}');
    log(`uwsgi_requests_total: ${JSON.stringify(served)}`);
    expect(Object.values(served).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const queue = await byInstance('max_over_time(uwsgi_listen_queue{job="uwsgi"}[5m])');
    log(`largest listen queue over the last 5 min: ${JSON.stringify(queue)}`);
    figure("invenio_uwsgi_listen_queue_max_5m", Math.max(...Object.values(queue)));
    // Its memory as its cgroup counts it (v2, else v1), against the limit the model gives it.
    const exporter = spec("monitoring-stats-exporter");
    const read = await exec(exporter.name, ["python3", "-c", MEMORY_PY]);
    expect(read.exitCode).toBe(0);
    const [cgroupBytes, rssKiB] = read.output.trim().split(" ").map(Number);
    const mib = cgroupBytes / 1024 / 1024;
    log(`stats exporter: cgroup ${mib.toFixed(1)} MiB, RSS ${(rssKiB / 1024).toFixed(1)} MiB, limit ${exporter.memoryMiB} MiB`);
    figure("invenio_stats_exporter_memory_mib", mib.toFixed(1));
    figure("invenio_stats_exporter_rss_mib", (rssKiB / 1024).toFixed(1));
    // Both at most half its limit: the cgroup's count (what the limit acts on) and the process's RSS (shared pages included).
    expect(mib).toBeGreaterThan(0);
    expect(Math.max(mib, rssKiB / 1024)).toBeLessThanOrEqual(exporter.memoryMiB / 2);
  });

  test("the stats exporter reads every container's memory at the cgroup parent the model gave it, with the model's limit", async () => {
    expect(serving).toBe(true);
    await expectContainerMemoryRead({ plan: cluster.plan, query, log });
  });

  test("a container filled to 0.93 of its limit fires ContainerNearMemoryLimit within its for window, and it clears once freed", async () => {
    expect(serving).toBe(true);
    // The search node (here the python3 stub, idle in its 2 GiB); the fill ends by itself within 240 s.
    await expectMemoryNearLimitFires({ topology: cluster.topology, plan: cluster.plan, key: "search-1", alerts: async () => (await prometheus("/api/v1/alerts")).alerts, query, log });
  }, 330_000);

  test("a stopped web node fires BackendServerDown within its for window, and the alert clears once the node is back", async () => {
    expect(serving).toBe(true);
    const node = spec("web-2-nginx").name;
    const serverDown = async () =>
      ((await prometheus("/api/v1/alerts")).alerts as Array<{ state: string; labels: Record<string, string> }>).filter(
        (a) => a.labels.alertname === "BackendServerDown" && a.labels.server === "web-2",
      );
    const t0 = Date.now();
    await stopContainer(node);
    let firingAt = 0;
    try {
      while (Date.now() - t0 < 150_000) {
        if ((await serverDown()).some((a) => a.state === "firing")) {
          firingAt = Date.now();
          break;
        }
        await sleep(1000);
      }
    } finally {
      await startContainer(node);
    }
    const seconds = (firingAt - t0) / 1000;
    log(`BackendServerDown firing ${seconds.toFixed(1)} s after web-2's nginx stopped`);
    // HAProxy's own bound (fall x inter), a scrape, an evaluation that sees it (pending), the for window,
    // and the evaluation that fires it: 10 + 15 + 15 + 30 + 15 = 85 s at most, never under the for window.
    const hc = cluster.topology.components.find((c) => c.kind === "loadBalancer")!.settings as { healthCheck: { fall: number; interMs: number } };
    const bound = (hc.healthCheck.fall * hc.healthCheck.interMs) / 1000 + 15 + 15 + 30 + 15;
    expect(firingAt).toBeGreaterThan(0);
    expect(seconds).toBeGreaterThanOrEqual(30);
    expect(seconds).toBeLessThanOrEqual(bound);
    figure("invenio_server_down_alert_firing_s", seconds.toFixed(1));
    const t1 = Date.now();
    while (Date.now() - t1 < 120_000 && (await serverDown()).length > 0) await sleep(2000);
    const cleared = (Date.now() - t1) / 1000;
    log(`BackendServerDown cleared ${cleared.toFixed(1)} s after web-2's nginx started again`);
    expect(await serverDown()).toEqual([]);
    figure("invenio_server_down_alert_cleared_s", cleared.toFixed(1));
  }, 300_000);

  test("faults fire their alerts within the for window and clear after recovery: standby stopped, web tier over its share, Celery workers stopped", async () => {
    expect(serving).toBe(true);
    await expectFaultsFireTheirAlerts({ topology: cluster.topology, containers: cluster.plan.containers, log });
  }, 420_000);

  test("the WS-DB-CONNECTIONS limit is PostgreSQL's own: that many app-role connections fit, one more is refused", async () => {
    expect(serving).toBe(true);
    // postgres_exporter opens a connection per scrape beside the one it keeps; stopped, it holds none,
    // so the count of the others the probe reads first stays true while it fills the rest.
    await stopContainer(spec("db-primary-exporter").name);
    try {
      await probeBudget();
    } finally {
      await startContainer(spec("db-primary-exporter").name);
    }
  });

  async function probeBudget(): Promise<void> {
    await expectConnectionBudget({
      findings: cluster.findings,
      primary: spec("db-primary"),
      app: spec("web-1-app").name,
      db: dbName(),
      figures: {
        used: "invenio_db_connections_budget_used",
        limit: "invenio_db_connections_budget_limit",
        opened: "invenio_db_connections_opened_by_probe",
        refusedAt: "invenio_db_connection_refused_at",
      },
      log,
    });
    // The probe closed its connections: the app serves again (at most 10 tries, 1 s apart).
    let status = 0;
    for (let i = 0; i < 10 && status !== 201; i++) {
      status = (await req(LB_PORT, "GET", "/hits?write=1").catch(() => ({ status: 0 }))).status;
      if (status !== 201) await sleep(1000);
    }
    expect(status).toBe(201);
  }

  // cdktf-webstack top on this apply: connections held through the load balancer show under the web tier, beside its share.
  test("top reads the running cluster: held connections under the web tier beside its WS-DB-CONNECTIONS share, each figure within its limit", async () => {
    expect(serving).toBe(true);
    await expectTopReportsLiveFigures(cluster.findings, LB_PORT, log);
  }, 300_000);

  test("destroys: no container, network or volume of the stack is left", () => expectDestroyed(session, cluster.plan.network.name, "invenio-"));
});
