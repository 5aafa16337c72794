/**
 * PgBouncer's metrics on the real daemons: the rendered PostgreSQL 15 primary, the rendered PgBouncer
 * 1.18 (start.sh writes the app's and the stats user's entries from the environment) and the rendered
 * stats exporter (Debian's python3, as nobody) in one sandbox at their model addresses. The exporter
 * logs in to the admin console with SCRAM as the stats user and reports the pools with the model's
 * sizes; under more clients than the pool and reserve hold it reports what the alerts read; it holds
 * no console connection between scrapes; after PgBouncer is killed it answers pgbouncer_up 0, and
 * once PgBouncer is back the first probe reads it again, the exporter never restarted. Figures are
 * printed as `FIGURE <name>: <value>` and asserted.
 */
import { Database, LoadBalancer, Monitoring, WebStack, WebTier } from "../../lib";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, sleep, testWith, type Container } from "./harness";

const it = testWith(["/usr/lib/postgresql/15/bin/postgres", "pgbouncer", "psql", "pg_isready", "python3", "promtool", "curl", "unshare", "nsenter"]);
const POOLER = { mode: "transaction", defaultPoolSize: 4, reservePoolSize: 2, maxClientConn: 50 } as const;
/** The exporter must read a restarted PgBouncer at its first probe once PgBouncer listens: within this, s. */
const RECOVERY_BOUND_S = 2;

function stack(): Container[] {
  return containersOf((scope) => {
    const s = new WebStack(scope, "pgbx", { subnet: "127.0.0.0/16" });
    const db = new Database(s, "db", { replicas: 0, pooler: { ...POOLER } });
    const web = new WebTier(s, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
    new LoadBalancer(s, "lb", { defaultTarget: web });
    new Monitoring(s, "monitoring");
    return s;
  });
}

const samples = (text: string) => new Map(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));
const figure = (name: string, value: string) => process.stdout.write(`FIGURE ${name}: ${value}\n`);

describe("the stats exporter reads the real PgBouncer's admin console", () => {
  it("reports the pools at the model's sizes, what the alerts read under load, holds no connection between scrapes, and reads a restarted PgBouncer at once", async () => {
    const cs = stack();
    const primary = container(cs, "db-primary");
    const pooler = container(cs, "db-pooler");
    const ex = container(cs, "monitoring-stats-exporter");
    const ini = fileIn(pooler, "/etc/pgbouncer/pgbouncer.ini");
    const port = Number(confValue(ini, "listen_port"));
    const target = `${pooler.address}:${port}`;
    const maxDb = Number(confValue(ini, "max_db_connections"));
    const reserveTimeout = Number(confValue(ini, "reserve_pool_timeout"));
    expect(confValue(ini, "stats_users")).toBe("webstack_stats");
    expect(JSON.parse(fileIn(ex, "/etc/webstack-exporter/targets.json")).pgbouncer).toEqual([target]);

    const box = new Sandbox("pgbouncer-exporter", {
      files: [...primary.files, ...pooler.files, ...ex.files],
      setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
    });
    const envOf = (c: Container) => Object.entries(c.env).map(([k, v]) => `${k}='${v}'`).join(" ");
    const startPgbouncer = () => box.sh(`env ${envOf(pooler)} ${pooler.command.join(" ")} >>/tmp/pgbouncer.log 2>&1 & echo $! >/tmp/pgbouncer.pid`, { user: "postgres" });
    const pgbouncerListens = async () => (await box.exec(["pg_isready", "-q", "-h", pooler.address, "-p", String(port), "-U", "app", "-d", "app"])).code === 0;
    const probe = async () => (await box.exec(["curl", "-s", "--max-time", "8", `http://127.0.0.1:9117/probe?module=pgbouncer&target=${target}`])).stdout;
    const appPsql = (sql: string) =>
      box.exec(["psql", "--no-psqlrc", "-X", "-At", "-c", sql, `host=${pooler.address} port=${port} user=app dbname=app connect_timeout=10`], { user: "nobody", env: { PGPASSWORD: secretValue("db_password") }, timeoutMs: 60_000 });
    const console = (sql: string) =>
      box.exec(["psql", "--no-psqlrc", "-X", "-At", "-F", "|", "-c", sql, `host=${pooler.address} port=${port} user=webstack_stats dbname=pgbouncer`], { user: "nobody", env: { PGPASSWORD: secretValue("db_pgbouncer_stats_password") } });
    try {
      await box.start({ user: primary.user ?? "postgres", argv: primary.command, env: primary.env });
      await box.waitFor("postgres on TCP", async () => (await box.exec(["pg_isready", "-q", "-h", primary.address, "-p", "5432"], { user: "postgres" })).code === 0, 120_000);
      expect((await startPgbouncer()).code).toBe(0);
      await box.waitFor("pgbouncer listening", pgbouncerListens, 30_000);
      expect((await box.sh(`env ${envOf(ex)} ${ex.command.join(" ")} >/tmp/exporter.log 2>&1 &`, { user: "nobody" })).code).toBe(0);
      await box.waitFor("the exporter", async () => (await box.exec(["curl", "-sf", "--max-time", "4", "http://127.0.0.1:9117/-/healthy"])).code === 0, 30_000);

      // One transaction through the pooler makes the app's pool; the exporter reads it with the model's sizes.
      expect((await appPsql("select 1")).stdout.trim()).toBe("1");
      let m = samples(await probe());
      const pool = '{database="app",user="app"}';
      expect({
        up: m.get("pgbouncer_up"),
        poolSize: m.get('pgbouncer_databases_pool_size{database="app"}'),
        reserve: m.get('pgbouncer_databases_reserve_pool_size{database="app"}'),
        max: m.get('pgbouncer_databases_max_connections{database="app"}'),
        waiting: m.get(`pgbouncer_pools_client_waiting_connections${pool}`),
      }).toEqual({ up: 1, poolSize: POOLER.defaultPoolSize, reserve: POOLER.reservePoolSize, max: maxDb, waiting: 0 });
      expect(m.get(`pgbouncer_pools_server_idle_connections${pool}`)).toBeGreaterThanOrEqual(1);
      const lint = await box.exec(["promtool", "check", "metrics"], { input: await probe() });
      expect({ code: lint.code, out: lint.stdout + lint.stderr }).toEqual({ code: 0, out: "" });
      // Between scrapes the exporter holds no console connection: SHOW CLIENTS lists only this psql.
      const clients = await console("SHOW CLIENTS");
      expect(clients.stdout.trim().split("\n").filter((l) => l.includes("webstack_stats"))).toHaveLength(1);
      expect(clients.stdout).not.toContain("webstack-exporter");
      // A wrong password: PgBouncer refuses the SCRAM login, and the module says so.
      const wrong = await box.exec(["python3", "-c", `import sys; sys.path.insert(0, "/etc/webstack-exporter"); import exporter, pgbouncer_probe; pgbouncer_probe.probe("${target}", "webstack_stats", "wrong", exporter.Metrics())`], { user: "nobody" });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/ConsoleError: FATAL: SASL authentication failed/);

      // More clients than pool + reserve, each holding its server connection: past reserve_pool_timeout the
      // reserve opens, the database's server connections reach max_db_connections, the rest wait.
      const n = maxDb + 3;
      const hold = reserveTimeout + 5;
      const load = box.sh(
        `i=0; while [ $i -lt ${n} ]; do i=$((i+1)); psql --no-psqlrc -X -At -c 'select pg_sleep(${hold})' 'host=${pooler.address} port=${port} user=app dbname=app connect_timeout=30' >/dev/null 2>&1 & done; wait`,
        { user: "nobody", env: { PGPASSWORD: secretValue("db_password") }, timeoutMs: 120_000 },
      );
      let peak = { active: 0, waiting: 0, maxwait: 0 };
      const deadline = Date.now() + (reserveTimeout + 4) * 1000;
      while (Date.now() < deadline) {
        m = samples(await probe());
        const now = { active: m.get(`pgbouncer_pools_server_active_connections${pool}`)!, waiting: m.get(`pgbouncer_pools_client_waiting_connections${pool}`)!, maxwait: m.get(`pgbouncer_pools_client_maxwait_seconds${pool}`)! };
        peak = { active: Math.max(peak.active, now.active), waiting: Math.max(peak.waiting, now.waiting), maxwait: Math.max(peak.maxwait, now.maxwait) };
        await sleep(250);
      }
      await load;
      figure("pgbouncer_exporter_peak_server_active", String(peak.active));
      figure("pgbouncer_exporter_peak_clients_waiting", String(peak.waiting));
      figure("pgbouncer_exporter_peak_maxwait_seconds", peak.maxwait.toFixed(2));
      // PgbouncerServerConnectionsAtMax's and PgbouncerClientsWaiting's figures, read from the real daemon.
      expect(peak.active).toBe(maxDb);
      expect(peak.waiting).toBeGreaterThanOrEqual(n - maxDb);
      expect(peak.maxwait).toBeGreaterThan(reserveTimeout);

      // PgBouncer killed: the exporter keeps serving and says so; started again: the first probe reads it.
      const exporterPid = (await box.sh("pgrep -u nobody -f exporter.py")).stdout.trim();
      expect(exporterPid).toMatch(/^\d+$/);
      expect((await box.sh("kill -KILL $(cat /tmp/pgbouncer.pid)")).code).toBe(0);
      await box.waitFor("pgbouncer gone", async () => !(await pgbouncerListens()), 10_000);
      const down = samples(await probe());
      expect(down.get("pgbouncer_up")).toBe(0);
      expect((await startPgbouncer()).code).toBe(0);
      await box.waitFor("pgbouncer listening again", pgbouncerListens, 30_000);
      const t0 = Date.now();
      let probes = 0;
      let up = 0;
      while (up !== 1 && Date.now() - t0 < 30_000) {
        probes++;
        up = samples(await probe()).get("pgbouncer_up") ?? -1;
        if (up !== 1) await sleep(100);
      }
      const recoveryS = (Date.now() - t0) / 1000;
      figure("pgbouncer_exporter_probes_to_recover", String(probes));
      figure("pgbouncer_exporter_recovery_seconds", recoveryS.toFixed(2));
      expect(up).toBe(1);
      expect(probes).toBe(1);
      expect(recoveryS).toBeLessThanOrEqual(RECOVERY_BOUND_S);
      // The same exporter process throughout: nothing had to restart it.
      expect((await box.sh("pgrep -u nobody -f exporter.py")).stdout.trim()).toBe(exporterPid);
      expect((await box.sh("cat /tmp/exporter.log")).stdout).toMatch(/probe pgbouncer .* failed/);
    } catch (e) {
      const logs = await box.sh("tail -n 30 /tmp/pgbouncer.log; echo --- exporter; tail -n 30 /tmp/exporter.log").catch(() => ({ stdout: "" }));
      throw new Error(`${(e as Error).message}\n--- pgbouncer ---\n${logs.stdout}\n--- postgres ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  }, 240_000);
});
