/**
 * Manual failover fencing on PostgreSQL 15: after promote.sh on the standby, the old primary's rendered
 * start.sh, run again on its own data (the container's restart), refuses to start writable beside the
 * promoted node; with that node gone it starts as before.
 */
import { Sandbox, container, link } from "./harness";
import { dbStack, itWithPostgres, psqlSocket, startPostgres, waitReady } from "./postgres-helpers";

const it = itWithPostgres;

/** Runs a container's command again in its sandbox, in the background, its output to /tmp/restart.log. */
async function restart(box: Sandbox, c: { command: string[]; env: Record<string, string> }): Promise<void> {
  const env = Object.entries(c.env).map(([k, v]) => `${k}='${v}'`).join(" ");
  const r = await box.sh(`cd / && env ${env} ${c.command.join(" ")} >/tmp/restart.log 2>&1 &`, { user: "postgres" });
  if (r.code !== 0) throw new Error(r.stderr);
}

describe("manual failover: a restarted old primary never runs beside the promoted standby", () => {
  it("start.sh refuses while the promoted standby answers as a primary, and starts once it is gone", async () => {
    const cs = dbStack("pgfence", "10.89.0.0/16", 1);
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
      await p.waitFor("streaming", async () => (await psqlSocket(p, "select count(*) from pg_stat_replication where state = 'streaming'")).stdout.trim() === "1", 60_000);

      // The primary crashes; the standby is promoted by hand.
      const crash = await p.exec(["pg_ctl", "-D", "/var/lib/postgresql/data/pgdata", "-m", "immediate", "stop"], { user: "postgres", env: { PATH: "/usr/lib/postgresql/15/bin:/usr/bin:/bin" } });
      expect(crash.code).toBe(0);
      const promote = await r.exec(["/etc/postgresql/promote.sh"], { user: "postgres" });
      expect(promote.code).toBe(0);
      expect((await psqlSocket(r, "select pg_is_in_recovery()")).stdout.trim()).toBe("f");

      // The old primary's container restarts: start.sh asks the other member first.
      await restart(p, primary);
      await p.waitFor("start.sh to give up", async () => (await p.sh("cat /tmp/restart.log")).stdout.includes("is a primary"), 30_000);
      const out = (await p.sh("cat /tmp/restart.log")).stdout;
      expect(out).toContain(`start.sh: ${replica.address} is a primary; not starting this node writable beside it.`);
      // Nothing listens: no second primary.
      const ready = await p.exec(["pg_isready", "-q", "-h", "/var/run/postgresql", "-p", "5432"], { user: "postgres" });
      expect(ready.code).not.toBe(0);

      // Control: with the promoted node gone, the same start.sh starts the old primary (writable) again.
      await r.stop();
      r = undefined;
      await restart(p, primary);
      await waitReady(p, "/var/run/postgresql", 60_000);
      expect((await psqlSocket(p, "select pg_is_in_recovery()")).stdout.trim()).toBe("f");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- primary log ---\n${p.log()}\n${(await p.sh("cat /tmp/restart.log").catch(() => ({ stdout: "" }))).stdout}\n--- replica log ---\n${r?.log() ?? ""}`);
    } finally {
      await r?.stop();
      await p.stop();
    }
  });
});
