/**
 * PgBouncer's metrics on a real Docker engine: test/e2e/fixtures/pooled-monitored-site.ts (small-site's
 * web tier on a primary behind PgBouncer, with Monitoring). Apply, wait healthy, a write through the
 * load balancer (app -> PgBouncer -> primary); Prometheus has the pgbouncer target up and reads the
 * pool with the model's sizes through the stats exporter; then PgBouncer's container is restarted and
 * Prometheus scrapes it again (pgbouncer_up 1 from a scrape after the restart) within a stated bound,
 * the stats exporter never restarted. Destroy in afterAll, also after a failure. Figures are printed as
 * `FIGURE <name>: <value>` lines.
 */
import { Testing } from "cdktf";
import { POOLED_MONITORED_SITE, buildPooledMonitoredSite } from "./fixtures/pooled-monitored-site";
import { apply, exec, generateVariables, inspect, waitHealthy } from "./applier";
import { call } from "./docker-api";
import { figure, settled, sleep } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 8080; // small-site's web tier and load balancer
const log = (...a: unknown[]) => process.stdout.write(`[e2e pooler-monitoring] ${a.join(" ")}\n`);

describeE2e("e2e: PgBouncer's metrics in Prometheus, and after PgBouncer restarts", () => {
  const session = newSession();
  type Cluster = ReturnType<ReturnType<typeof buildPooledMonitoredSite>["cluster"]>;
  let cluster: Cluster;
  const spec = (key: string) => cluster.plan.containers.find((c) => c.key === key) ?? fail(`no container ${key} in the model`);
  const nameOf = (key: string) => `${POOLED_MONITORED_SITE}-${key}`;
  let serving = false;

  /** One PromQL instant query through Prometheus' own wget: labels and value per series. */
  async function query(q: string): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const r = await exec(nameOf("monitoring-prometheus"), ["wget", "-qO-", `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent(q)}`]);
    if (r.exitCode !== 0) throw new Error(`query ${q}: wget exited ${r.exitCode}: ${r.output}`);
    return (JSON.parse(r.output).data.result as Array<{ metric: Record<string, string>; value: [number, string] }>).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  beforeAll(async () => {
    cluster = buildPooledMonitoredSite(Testing.app()).cluster();
    await openSession(session, POOLED_MONITORED_SITE, log, "test/e2e/fixtures/pooled-monitored-site.ts");
  });

  afterAll(() => closeSession(session, log));

  test("applies, becomes healthy, writes through the pooler; Prometheus has the pgbouncer target up with the model's pool sizes", async () => {
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
    const health = await waitHealthy(session.handle, 240_000);
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");
    const hits = await settled(LB_PORT, "/hits?write=1", 201);
    expect(hits.status).toBe(201);

    expect(spec("db-pooler").role).toBe("pgbouncer");
    const scrape = cluster.topology.components.find((c) => c.kind === "monitoring")!.settings as { scrapeIntervalSeconds: number };
    const t0 = Date.now();
    let up: Awaited<ReturnType<typeof query>> = [];
    while (Date.now() - t0 < 4 * scrape.scrapeIntervalSeconds * 1000 + 30_000) {
      up = await query('up{job="pgbouncer"} == 1 and on(instance) pgbouncer_up == 1');
      if (up.length === 1) break;
      await sleep(2000);
    }
    log(`pgbouncer target up after ${((Date.now() - t0) / 1000).toFixed(1)} s of waiting`);
    expect(up.map((s) => s.metric.instance)).toEqual(["db-pooler"]);
    const [size] = await query('pgbouncer_databases_pool_size{job="pgbouncer",database="app"}');
    const [max] = await query('pgbouncer_databases_max_connections{job="pgbouncer",database="app"}');
    const pooler = (cluster.topology.components.find((c) => c.kind === "database")!.settings as { pooler: { defaultPoolSize: number; reservePoolSize: number } }).pooler;
    expect({ size: size.value, max: max.value }).toEqual({ size: pooler.defaultPoolSize, max: pooler.defaultPoolSize + pooler.reservePoolSize });
    // The write above went through the app's pool: a scrape later, PgBouncer reports its server connection(s) to the primary.
    await sleep((scrape.scrapeIntervalSeconds + 2) * 1000);
    const [servers] = await query('sum(pgbouncer_pools_server_active_connections{job="pgbouncer",database="app"} + pgbouncer_pools_server_idle_connections{job="pgbouncer",database="app"} + pgbouncer_pools_server_used_connections{job="pgbouncer",database="app"})');
    log(`app pool's server connections: ${servers?.value}`);
    expect(servers.value).toBeGreaterThanOrEqual(1);
    serving = true;
  }, 600_000);

  test("PgBouncer restarted: Prometheus reads it again within two scrape intervals + 10 s, the stats exporter never restarted", async () => {
    if (!serving) throw new Error("skipped: the stack did not come up in the first test");
    const scrape = (cluster.topology.components.find((c) => c.kind === "monitoring")!.settings as { scrapeIntervalSeconds: number }).scrapeIntervalSeconds;
    const exporter = await inspect(nameOf("monitoring-stats-exporter"));
    const t0 = Date.now();
    await call("POST", `/containers/${encodeURIComponent(nameOf("db-pooler"))}/restart?t=10`, undefined, { timeoutMs: 60_000 });
    const restarted = Date.now();
    const started = Date.parse((await inspect(nameOf("db-pooler"))).State.StartedAt);
    log(`pooler restarted in ${restarted - t0} ms (StartedAt ${new Date(started).toISOString()})`);
    let back: number | undefined;
    while (Date.now() - restarted < 2 * scrape * 1000 + 60_000) {
      // The latest sample says up and was scraped after PgBouncer started again: the exporter logged in anew.
      const [s] = await query('timestamp(pgbouncer_up{job="pgbouncer",instance="db-pooler"} == 1)');
      if (s && s.value * 1000 > started) {
        back = s.value * 1000;
        break;
      }
      await sleep(1000);
    }
    expect(back).toBeDefined();
    const recoveryS = (back! - started) / 1000;
    figure("pgbouncer_restart_to_scraped_up_seconds", recoveryS.toFixed(1));
    figure("pgbouncer_scrape_interval_seconds", scrape);
    expect(recoveryS).toBeLessThanOrEqual(2 * scrape + 10);
    const after = await inspect(nameOf("monitoring-stats-exporter"));
    expect({ restarts: after.RestartCount, startedAt: after.State.StartedAt }).toEqual({ restarts: exporter.RestartCount, startedAt: exporter.State.StartedAt });
    // The app writes through the restarted pooler again.
    expect((await settled(LB_PORT, "/hits?write=1", 201)).status).toBe(201);
  }, 300_000);
});
