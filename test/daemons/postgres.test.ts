import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { renderPostgresExporterQueries } from "../../lib/core/render/prometheus";
import { Sandbox, confValue, container, containersOf, fileIn, link, secretValue } from "./harness";
import { CONF, PGTUNE_SETTINGS, dbStack, itWithPostgres, psqlSocket, startPostgres, waitReady, withPrimaryAndApp } from "./postgres-helpers";

const it = itWithPostgres;
// js-yaml 3 comes with jest's coverage tooling; the rendered files are plain YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): unknown } = require("js-yaml");

describe("PostgreSQL 15 runs the rendered primary (and replica)", () => {
  // 127.0.0.0/16 contains 127.0.0.1, the source address Linux picks for any 127/8 destination on lo.
  const inside = dbStack("pgin", "127.0.0.0/16", 0);
  const outside = dbStack("pgout", "127.77.0.0/16", 0);

  it("settings equal the rendered values, pg_hba has no errors, the app logs in from inside the subnet", async () => {
    const primary = container(inside, "db-primary");
    const conf = fileIn(primary, CONF);
    const box = await startPostgres(primary);
    try {
      await waitReady(box);
      // The first-boot restart also happens on the socket; wait for the final postmaster with TCP.
      await waitReady(box, primary.address);
      for (const name of ["max_connections", "max_wal_senders", "max_replication_slots", "superuser_reserved_connections", "hba_file", "password_encryption", "wal_level", ...PGTUNE_SETTINGS]) {
        const r = await psqlSocket(box, `SHOW ${name}`);
        expect({ name, value: r.stdout.trim(), err: r.stderr }).toEqual({ name, value: confValue(conf, name), err: "" });
      }
      const hbaErrors = await psqlSocket(box, "select count(*) from pg_hba_file_rules where error is not null");
      expect(hbaErrors.stdout.trim()).toBe("0");
      expect((await psqlSocket(box, "select count(*) from pg_file_settings where error is not null")).stdout.trim()).toBe("0");
      const ext = await box.exec(["psql", "-X", "-At", "-U", "postgres", "-d", "app", "-c", "select extname from pg_extension where extname = 'pg_stat_statements'"], { user: "postgres" });
      expect(ext.stdout.trim()).toBe("pg_stat_statements");

      const login = await box.exec(
        ["psql", "-X", "-At", "-c", "select current_user, inet_client_addr()",
          `host=${primary.address} port=5432 user=app dbname=app`],
        { user: "nobody", env: { PGPASSWORD: secretValue("db_password"), PGCONNECT_TIMEOUT: "5" } },
      );
      expect(login.stderr).toBe("");
      expect(login.stdout.trim()).toBe("app|127.0.0.1");
      // The log format: a statement slower than log_min_duration_statement (slowQueryMs) is logged with
      // its duration, under a prefix naming the role, the database and the session's application_name.
      const slowMs = Number(confValue(conf, "log_min_duration_statement"));
      expect(slowMs).toBe(500); // slowQueryMs' documented default
      const sleepSql = `select pg_sleep(${(slowMs + 100) / 1000})`;
      const slow = await box.exec(["psql", "-X", "-At", "-c", sleepSql, `host=${primary.address} port=5432 user=app dbname=app application_name=web`], {
        user: "nobody",
        env: { PGPASSWORD: secretValue("db_password"), PGCONNECT_TIMEOUT: "5" },
      });
      expect(slow.stderr).toBe("");
      const slowLine = new RegExp(String.raw`^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] app@app app=web LOG:  duration: (\d+\.\d+) ms  statement: ${sleepSql.replace(/[().]/g, "\\$&")}$`, "m");
      await box.waitFor("the slow statement's log line", async () => slowLine.test(box.log()), 5_000);
      expect(Number(slowLine.exec(box.log())![1])).toBeGreaterThanOrEqual(slowMs);
      // A statement under the threshold is not logged.
      await box.exec(["psql", "-X", "-At", "-c", "select 424242", `host=${primary.address} port=5432 user=app dbname=app application_name=web`], { user: "nobody", env: { PGPASSWORD: secretValue("db_password") } });
      expect(box.log()).not.toContain("select 424242");
      const badPw = await box.exec(["psql", "-X", "-At", "-c", "select 1", `host=${primary.address} user=app dbname=app`], { user: "nobody", env: { PGPASSWORD: "wrong" } });
      expect(badPw.stderr).toMatch(/password authentication failed for user "app"/);
      // The superuser has no TCP access at all.
      const su = await box.exec(["psql", "-X", "-At", "-c", "select 1", `host=${primary.address} user=postgres dbname=postgres`], { user: "nobody", env: { PGPASSWORD: "x" } });
      expect(su.stderr).toMatch(/pg_hba.conf rejects connection/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  it("pgtune's settings for 16 CPUs on hdd with 32 GiB (autovacuum_work_mem, huge_pages try) are accepted as rendered", async () => {
    // shared_buffers is held at 2 GiB so the test needs no 8 GiB of shared memory; the rest follows 32 GiB.
    const primary = container(dbStack("pgtune", "127.0.0.0/16", 0, 0, { memoryMiB: 32768, sharedBuffersMiB: 2048, cpus: 16, storage: "hdd" }), "db-primary");
    const conf = fileIn(primary, CONF);
    expect(confValue(conf, "autovacuum_work_mem")).toBe("2GB");
    expect(confValue(conf, "huge_pages")).toBe("try");
    expect(confValue(conf, "max_worker_processes")).toBe("16");
    const box = await startPostgres(primary);
    try {
      await waitReady(box, primary.address);
      for (const name of [...PGTUNE_SETTINGS, "autovacuum_work_mem"]) {
        const r = await psqlSocket(box, `SHOW ${name}`);
        expect({ name, value: r.stdout.trim(), err: r.stderr }).toEqual({ name, value: confValue(conf, name), err: "" });
      }
      expect((await psqlSocket(box, "select count(*) from pg_file_settings where error is not null")).stdout.trim()).toBe("0");
      // A parallel plan gets the workers per gather (the planner is pushed to parallelism on a tiny table).
      const plan = await psqlSocket(box, "set parallel_setup_cost = 0; set parallel_tuple_cost = 0; set min_parallel_table_scan_size = 0; create table t as select g from generate_series(1, 10000) g; analyze t; explain select count(*) from t");
      expect(plan.stdout).toMatch(/Workers Planned: [1-4]/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  it("pg_hba rejects the app role from outside the subnet", async () => {
    const primary = container(outside, "db-primary");
    expect(primary.address.startsWith("127.77.")).toBe(true);
    const box = await startPostgres(primary);
    try {
      await waitReady(box, primary.address);
      const r = await box.exec(["psql", "-X", "-At", "-c", "select 1", `host=${primary.address} port=5432 user=app dbname=app`], {
        user: "nobody",
        env: { PGPASSWORD: secretValue("db_password"), PGCONNECT_TIMEOUT: "5" },
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "app"/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  it("the replica's start.sh base-backs-up from the primary and streams (pg_stat_replication)", async () => {
    // Both listen on '*':5432, so each gets its own network namespace, joined by a veth pair on a
    // non-loopback subnet, like two containers on the stack's bridge network.
    const cs = dbStack("pgrep", "10.88.0.0/16", 1);
    const primary = container(cs, "db-primary");
    const replica = container(cs, "db-replica-1");
    const p = await startPostgres(primary);
    let r: Sandbox | undefined;
    try {
      await waitReady(p);
      r = await startPostgres(replica);
      await link(p, `${primary.address}/16`, r, `${replica.address}/16`);
      await waitReady(p, primary.address);
      await waitReady(r, "/var/run/postgresql", 180_000);
      let seen = "";
      await p.waitFor("streaming replica", async () => {
        const s = await psqlSocket(p, "select state || '|' || coalesce(host(client_addr), '') || '|' || usename from pg_stat_replication");
        seen = s.stdout.trim() + s.stderr;
        return seen === `streaming|${replica.address}|replicator`;
      }, 60_000).catch((e) => {
        throw new Error(`pg_stat_replication: ${JSON.stringify(seen)}\n${(e as Error).message}`);
      });
      const slot = await psqlSocket(p, "select slot_name || '|' || active from pg_replication_slots");
      expect(slot.stdout.trim()).toBe("db_replica_1|true");
      expect((await psqlSocket(r, "select pg_is_in_recovery()")).stdout.trim()).toBe("t");
      // The exporter's replication query (the replication alerts' series): a row on the primary only.
      const replicationQuery = (yaml.safeLoad(renderPostgresExporterQueries()) as Record<string, { query: string }>).webstack_replication.query;
      expect((await psqlSocket(p, replicationQuery)).stdout.trim()).toMatch(/^1\|[0-9.]+$/);
      expect((await psqlSocket(r, replicationQuery)).stdout.trim()).toBe("");
      // The standby accepted the primary's values (it refuses to start when any is lower).
      expect((await psqlSocket(r, "SHOW max_connections")).stdout.trim()).toBe(confValue(fileIn(replica, CONF), "max_connections"));
      // The worker settings derived from cpus are the same on the standby as on the primary, and in effect.
      for (const name of PGTUNE_SETTINGS) {
        expect({ name, value: (await psqlSocket(r, `SHOW ${name}`)).stdout.trim() }).toEqual({ name, value: confValue(fileIn(primary, CONF), name) });
      }
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- primary log ---\n${p.log()}\n--- replica log ---\n${r?.log() ?? ""}`);
    } finally {
      await r?.stop();
      await p.stop();
    }
  });

  it("the app (gunicorn, rendered DATABASE_URL) writes and reads hits and fills its pool on the rendered primary", async () => {
    const cs = containersOf((scope) => {
      const stack = new WebStack(scope, "pgapp", { subnet: "127.0.0.0/16" });
      const db = new Database(stack, "db", { maxConnections: 60, replicas: 0, memoryMiB: 1024 });
      const web = new WebTier(stack, "web", { nodes: 1, server: "gunicorn", processes: 2, poolSize: 4, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    });
    const primary = container(cs, "db-primary");
    const web = container(cs, "web-1-app");
    await withPrimaryAndApp("pg-app", primary, web, async (box) => {
      const curl = async (url: string, ...extra: string[]) => {
        const r = await box.exec(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", ...extra, `http://127.0.0.1:8000${url}`]);
        const i = r.stdout.lastIndexOf("\n");
        return { code: r.stdout.slice(i + 1), body: r.stdout.slice(0, i) };
      };
      const created = await curl("/hits", "-X", "POST");
      expect(created).toMatchObject({ code: "201" });
      const hit = JSON.parse(created.body);
      expect(hit.server).toMatchObject({ addr: primary.address, in_recovery: false });
      expect((await curl(`/hits/${hit.id}`)).code).toBe("200");
      const pool = JSON.parse((await curl("/pool/fill")).body);
      expect(pool).toMatchObject({ checked_out: 4, pool_size: 4 });
    });
  });
});
