/**
 * PgBouncer's metrics on a real Docker engine: test/e2e/fixtures/pooled-monitored-site.ts (small-site's
 * web tier on a primary behind PgBouncer, with Monitoring). Apply, wait healthy, a write through the
 * load balancer (app -> PgBouncer -> primary); Prometheus has the pgbouncer target up and reads the
 * pool with the model's sizes through the stats exporter; then PgBouncer's container is stopped
 * (Prometheus scrapes pgbouncer_up 0 through the still-serving exporter) and started (pgbouncer_up 1 at
 * the next scrape, within a scrape interval + 10 s), the stats exporter never restarted. Destroy in afterAll, also after a failure. Figures are printed as
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

  test("PgBouncer stopped, then started: Prometheus scrapes pgbouncer_up 0, then 1 at the next scrape (within a scrape interval + 10 s), the stats exporter never restarted", async () => {
    if (!serving) throw new Error("skipped: the stack did not come up in the first test");
    const scrape = (cluster.topology.components.find((c) => c.kind === "monitoring")!.settings as { scrapeIntervalSeconds: number }).scrapeIntervalSeconds;
    const exporter = await inspect(nameOf("monitoring-stats-exporter"));
    const pooler = nameOf("db-pooler");
    /**
     * The first sample scraped after `afterMs` with `value`, by its own scrape time: a range selector returns
     * the samples themselves (timestamp() of anything but a plain selector is the evaluation time).
     */
    const sampleAfter = async (afterMs: number, value: string, timeoutMs: number): Promise<number | undefined> => {
      const deadline = Date.now() + timeoutMs;
      let seen: Array<[number, string]> = [];
      while (Date.now() < deadline) {
        const r = await exec(nameOf("monitoring-prometheus"), ["wget", "-qO-", `http://127.0.0.1:9090/api/v1/query?query=${encodeURIComponent('pgbouncer_up{job="pgbouncer",instance="db-pooler"}[5m]')}`]);
        seen = (JSON.parse(r.output).data.result[0]?.values ?? []) as Array<[number, string]>;
        const hit = seen.find(([t, v]) => t * 1000 > afterMs && v === value);
        if (hit) return hit[0] * 1000;
        await sleep(1000);
      }
      log(`no sample ${value} after ${new Date(afterMs).toISOString()}; samples: ${JSON.stringify(seen.slice(-6))}`);
      return undefined;
    };
    await call("POST", `/containers/${encodeURIComponent(pooler)}/stop?t=10`, undefined, { timeoutMs: 60_000 });
    const stopped = Date.parse((await inspect(pooler)).State.FinishedAt);
    let started = 0;
    try {
      // The exporter keeps serving and says PgBouncer is down (the scrape itself stays up).
      const down = await sampleAfter(stopped, "0", (scrape + 10) * 1000);
      expect(down).toBeDefined();
    } finally {
      await call("POST", `/containers/${encodeURIComponent(pooler)}/start`, undefined, { allow: [304] });
      started = Date.parse((await inspect(pooler)).State.StartedAt);
    }
    const back = await sampleAfter(started, "1", (2 * scrape + 30) * 1000);
    expect(back).toBeDefined();
    const recoveryS = (back! - started) / 1000;
    figure("pgbouncer_started_to_scraped_up_seconds", recoveryS.toFixed(1));
    figure("pgbouncer_scrape_interval_seconds", scrape);
    expect(recoveryS).toBeLessThanOrEqual(scrape + 10);
    const after = await inspect(nameOf("monitoring-stats-exporter"));
    expect({ restarts: after.RestartCount, startedAt: after.State.StartedAt }).toEqual({ restarts: exporter.RestartCount, startedAt: exporter.State.StartedAt });
    // The app writes through the started pooler again.
    expect((await settled(LB_PORT, "/hits?write=1", 201)).status).toBe(201);
  }, 300_000);
});
