import { execFileSync } from "node:child_process";
import { Sandbox, confValue, container, fileIn, sleep } from "./harness";
import { CONF, dbStack, itWithPostgres, psqlSocket, startPostgres, waitReady } from "./postgres-helpers";

const it = itWithPostgres;

/** psql -At prints a command tag for each statement of a multi-statement -c; the result is the last line. */
const last = (out: string) => out.trim().split("\n").pop() ?? "";

/**
 * A star network around the primary, like containers on one bridge: one veth pair per standby, the
 * standby end with its /prefix address, the primary end with the primary's address as /32 and a
 * host route to that standby (the same address on several links is fine for Linux).
 */
async function star(primaryBox: Sandbox, primaryAddr: string, standbys: [Sandbox, string][], prefix: number): Promise<void> {
  for (const [i, [box, addr]] of standbys.entries()) {
    const a = `wsp${i}`;
    const b = `wss${i}`;
    execFileSync("ip", ["link", "add", a, "netns", String(primaryBox.nsPid), "type", "veth", "peer", "name", b, "netns", String(box.nsPid)]);
    const p = await primaryBox.sh(`ip addr add ${primaryAddr}/32 dev ${a} && ip link set ${a} up && ip route add ${addr}/32 dev ${a} src ${primaryAddr}`);
    if (p.code !== 0) throw new Error(`${primaryBox.name}: ${p.stderr}`);
    const s = await box.sh(`ip addr add ${addr}/${prefix} dev ${b} && ip link set ${b} up`);
    if (s.code !== 0) throw new Error(`${box.name}: ${s.stderr}`);
  }
}

describe("PostgreSQL 15 replication matrix, as rendered", () => {
  it("0 replicas: the primary alone starts; max_wal_senders / max_replication_slots equal the rendered values; no sync standbys", async () => {
    const cs = dbStack("pg0", "127.0.0.0/16", 0);
    expect(cs.filter((c) => c.key.startsWith("db-replica"))).toEqual([]);
    const primary = container(cs, "db-primary");
    const conf = fileIn(primary, CONF);
    const box = await startPostgres(primary);
    try {
      await waitReady(box, primary.address);
      for (const name of ["max_wal_senders", "max_replication_slots", "wal_level", "max_connections"]) {
        expect({ name, value: (await psqlSocket(box, `SHOW ${name}`)).stdout.trim() }).toEqual({ name, value: confValue(conf, name) });
      }
      // Room for a pg_basebackup -X stream (two senders) even without replicas.
      expect(Number(confValue(conf, "max_wal_senders"))).toBeGreaterThanOrEqual(2);
      expect(conf).not.toMatch(/^synchronous_standby_names/m);
      expect((await psqlSocket(box, "SHOW synchronous_standby_names")).stdout.trim()).toBe("");
      expect((await psqlSocket(box, "select count(*) from pg_replication_slots")).stdout.trim()).toBe("0");
      expect((await psqlSocket(box, "select count(*) from pg_stat_replication")).stdout.trim()).toBe("0");
      expect((await psqlSocket(box, "select pg_is_in_recovery()")).stdout.trim()).toBe("f");
      // A commit needs no standby.
      expect(last((await psqlSocket(box, "create table t(x int); insert into t values (1); select count(*) from t", 10_000)).stdout)).toBe("1");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  it("synchronousReplicas 1: the primary's first boot (init.sql with no standby yet) completes", async () => {
    const primary = container(dbStack("pg2a", "127.0.0.0/16", 2, 1), "db-primary");
    const box = await startPostgres(primary);
    try {
      await box.waitFor("first boot to finish (postgres on TCP)", async () => {
        const ready = await box.exec(["pg_isready", "-q", "-U", "postgres", "-d", "postgres", "-h", primary.address, "-p", "5432"], { user: "postgres" });
        if (ready.code === 0) return true;
        // The temporary first-boot server listens on the socket only: is init.sql stuck waiting for a standby?
        const stuck = await psqlSocket(box, "select query from pg_stat_activity where wait_event = 'SyncRep'");
        if (stuck.code === 0 && stuck.stdout.trim() !== "") {
          throw new Error(
            `first boot hangs: init.sql's commit waits for a synchronous standby that cannot exist yet ` +
            `(pg_stat_activity wait_event=SyncRep, query: ${JSON.stringify(stuck.stdout.trim().replace(/PASSWORD '[^']*'/g, "PASSWORD '***'"))}); ` +
            `start.sh starts the first-boot server with synchronous_standby_names = ${JSON.stringify(confValue(fileIn(primary, CONF), "synchronous_standby_names"))}`,
          );
        }
        return false;
      }, 30_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  it("2 replicas, synchronousReplicas 1: both stream, both are quorum candidates of 'ANY 1 (...)', commits wait for one of them", async () => {
    const cs = dbStack("pg2", "10.88.0.0/16", 2, 1);
    // WORKAROUND (see the test above): the rendered first boot hangs with synchronous standbys, so this
    // copy of the primary's start.sh runs its first-boot server without them. The running server
    // (the final exec) still uses the rendered postgresql.conf unchanged. Remove once start.sh does this.
    const primary = container(cs, "db-primary");
    const replicas = [container(cs, "db-replica-1"), container(cs, "db-replica-2")];
    const conf = fileIn(primary, CONF);
    const names = replicas.map((r) => confValue(fileIn(r, CONF), "cluster_name"));
    expect(confValue(conf, "synchronous_standby_names")).toBe(`ANY 1 (${names.join(", ")})`);
    const p = await startPostgres(primary);
    const rs: Sandbox[] = [];
    try {
      await waitReady(p, "/var/run/postgresql", 120_000);
      for (const r of replicas) rs.push(await startPostgres(r));
      await star(p, primary.address, rs.map((box, i) => [box, replicas[i].address]), 16);
      await waitReady(p, primary.address);
      for (const r of rs) await waitReady(r, "/var/run/postgresql", 180_000);

      const expected = replicas
        .map((r, i) => `${names[i]}|streaming|${r.address}|quorum`)
        .sort();
      let seen = "";
      await p.waitFor("two streaming quorum standbys", async () => {
        const s = await psqlSocket(p, "select application_name || '|' || state || '|' || host(client_addr) || '|' || sync_state from pg_stat_replication order by 1");
        seen = s.stdout.trim() + s.stderr;
        return seen === expected.join("\n");
      }, 90_000).catch((e) => {
        throw new Error(`pg_stat_replication: ${JSON.stringify(seen)}, want ${JSON.stringify(expected)}\n${(e as Error).message}`);
      });
      expect((await psqlSocket(p, "SHOW synchronous_standby_names")).stdout.trim()).toBe(confValue(conf, "synchronous_standby_names"));
      expect((await psqlSocket(p, "select string_agg(slot_name || '|' || active, ',' order by slot_name) from pg_replication_slots")).stdout.trim())
        .toBe(names.map((n) => `${n}|true`).join(","));
      for (const r of rs) expect((await psqlSocket(r, "select pg_is_in_recovery()")).stdout.trim()).toBe("t");

      // A commit on the primary succeeds (one standby confirms) and reaches both standbys.
      const commit = await psqlSocket(p, "create table t(x int); insert into t values (42); select sum(x) from t", 20_000);
      expect(commit.stderr).toBe("");
      expect(last(commit.stdout)).toBe("42");
      for (const r of rs) {
        await r.waitFor("row replayed", async () => (await psqlSocket(r, "select sum(x) from t")).stdout.trim() === "42", 30_000);
      }

      // ANY 1: with one standby gone, commits still succeed.
      await rs[1].stop();
      const one = await psqlSocket(p, "insert into t values (1); select sum(x) from t", 20_000);
      expect(one.stderr).toBe("");
      expect(last(one.stdout)).toBe("43");
      // With none left, a commit waits for a standby (wait_event SyncRep) until cancelled.
      await rs[0].stop();
      const waiting = psqlSocket(p, "insert into t values (100)", 60_000);
      let wait = "";
      await p.waitFor("a commit waiting in SyncRep", async () => {
        wait = (await psqlSocket(p, "select count(*) from pg_stat_activity where wait_event = 'SyncRep'")).stdout.trim();
        return wait === "1";
      }, 20_000);
      await sleep(500);
      expect(wait).toBe("1");
      expect((await psqlSocket(p, "select pg_cancel_backend(pid) from pg_stat_activity where wait_event = 'SyncRep'")).stdout.trim()).toBe("t");
      const cancelled = await waiting;
      expect(cancelled.stderr).toMatch(/canceling wait for synchronous replication/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- primary log ---\n${p.log()}\n${rs.map((r, i) => `--- replica ${i + 1} log ---\n${r.log()}`).join("\n")}`);
    } finally {
      for (const r of rs) await r.stop();
      await p.stop();
    }
  });
});
