/**
 * Automatic failover on the real daemons: three etcd 3.4 members and three Patroni 3.0 members
 * (PostgreSQL 15) started from the rendered files, each in its own sandbox, joined by a bridge in a
 * "switch" sandbox that also runs the writer. The writer inserts through the app's multi-host
 * DATABASE_URL (target_session_attrs=read-write) and counts acknowledged writes; the leader is killed
 * (SIGKILL to Patroni and the postmaster), a standby takes the lock, writes resume, no acknowledged
 * write is lost (synchronous mode), and the old leader, started again on its data, rejoins as a standby.
 */
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf, fileIn, sleep, type Container } from "./harness";
import { testWith } from "./harness";
import { api, crash, daemonLog, plug, sql, startDaemon } from "./patroni-cluster";

const it = testWith(["/usr/lib/postgresql/15/bin/postgres", "psql", "patroni", "etcd", "etcdctl", "curl", "unshare", "nsenter", "ip"]);
const log = (...a: unknown[]) => process.stdout.write(`[patroni] ${a.join(" ")}\n`);
const figure = (name: string, value: unknown) => process.stdout.write(`FIGURE ${name}: ${value}\n`);

const SUBNET = "10.91.0.0/16";
const CLIENT = "10.91.0.5";
// Short timings for the test (Patroni's rule: loop_wait + 2 x retry_timeout <= ttl).
const FAILOVER = { ttl: 20, loopWait: 5, retryTimeout: 5 };

function stack(): Container[] {
  return containersOf((scope) => {
    const s = new WebStack(scope, "pat", { subnet: SUBNET });
    const db = new Database(s, "db", { maxConnections: 60, replicas: 2, synchronousReplicas: 1, memoryMiB: 1024, failover: FAILOVER });
    const web = new WebTier(s, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
    new LoadBalancer(s, "lb", { defaultTarget: web });
    return s;
  });
}

describe("Patroni 3.0 + etcd 3.4 run the rendered failover files", () => {
  it("a leader is elected; killing it, a standby takes over, writes resume with none lost, the old leader rejoins as a standby", async () => {
    const cs = stack();
    const etcd = ["db-etcd-1", "db-etcd-2", "db-etcd-3"].map((k) => container(cs, k));
    const members = ["db-primary", "db-replica-1", "db-replica-2"].map((k) => container(cs, k));
    const web = container(cs, "web-1-app");
    const url = String(web.env.DATABASE_URL).replace(/postgresql:\/\/app:[^@]*@/, "postgresql://app@");
    expect(url).toMatch(/target_session_attrs=read-write/);
    const sw = new Sandbox("switch", { files: [] });
    const boxes = new Map<string, Sandbox>();
    const all = () => [...boxes.values()];
    try {
      await sw.start();
      const brUp = await sw.sh(`ip link add br0 type bridge && ip addr add ${CLIENT}/16 dev br0 && ip link set br0 up`);
      expect(brUp.stderr).toBe("");
      let n = 0;
      for (const c of etcd) boxes.set(c.key, await plug(sw, c, n++, "mkdir -p /var/lib/etcd", true));
      const pgSetup = "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql";
      for (const c of members) boxes.set(c.key, await plug(sw, c, n++, pgSetup, true));

      // etcd: three healthy members, one cluster.
      await sw.waitFor("etcd cluster healthy", async () => {
        const r = await sw.exec(["etcdctl", `--endpoints=${etcd.map((c) => `http://${c.address}:2379`).join(",")}`, "endpoint", "health"], { timeoutMs: 10_000 });
        return r.code === 0;
      }, 60_000);

      // One leader, two streaming standbys.
      const t0 = Date.now();
      let leader: Container | undefined;
      await sw.waitFor("a Patroni leader", async () => {
        for (const c of members) if ((await api(sw, c, "/primary")) === 200) leader = c;
        return leader !== undefined;
      }, 120_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n${(await Promise.all(members.map(async (c) => `--- ${c.key} ---\n${await daemonLog(boxes.get(c.key)!)}`))).join("\n")}`);
      });
      await sw.waitFor("two standbys on /replica", async () => {
        const codes = await Promise.all(members.map((c) => api(sw, c, "/replica")));
        return codes.filter((x) => x === 200).length === 2;
      }, 120_000);
      figure("patroni_bootstrap_seconds", ((Date.now() - t0) / 1000).toFixed(1));
      log(`leader: ${leader!.key}`);

      // The settings Patroni passes on the command line are the rendered ones on every member.
      const yml = fileIn(members[0], "/etc/patroni/patroni.yml");
      for (const c of members) {
        expect(fileIn(c, "/etc/patroni/patroni.yml").replace(/(name|listen|connect_address): .*/g, "")).toBe(yml.replace(/(name|listen|connect_address): .*/g, ""));
        for (const [name, want] of [["max_connections", "60"], ["max_wal_senders", "5"], ["max_replication_slots", "4"], ["max_worker_processes", "8"], ["wal_log_hints", "on"], ["hba_file", "/etc/postgresql/pg_hba.conf"]]) {
          const r = await boxes.get(c.key)!.exec(["psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", `SHOW ${name}`], { user: "postgres" });
          expect({ member: c.key, name, value: r.stdout.trim() }).toEqual({ member: c.key, name, value: want });
        }
      }
      // synchronous_mode: Patroni names one standby synchronous on its next HA loop.
      let ssn = "";
      await sw.waitFor("a synchronous standby", async () => {
        const r = await boxes.get(leader!.key)!.exec(["psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", "SHOW synchronous_standby_names"], { user: "postgres" });
        ssn = r.stdout.trim();
        return ssn !== "";
      }, FAILOVER.loopWait * 4 * 1000);
      log(`leader synchronous_standby_names = ${ssn}`);
      expect(ssn).toMatch(/^"db-(replica-\d|primary)"$/);

      // The app's URL reaches the leader (post_bootstrap created the role and database).
      const create = await sql(sw, url, "CREATE TABLE IF NOT EXISTS acked (id int primary key)");
      expect(create.stderr).toBe("");

      // Bounded writer: one INSERT per psql run through the multi-host URL, acknowledged ids kept.
      const acked: number[] = [];
      let failedWrites = 0;
      let stop = false;
      let lastFailAt = 0;
      let firstOkAfterKill = 0;
      let killedAt = 0;
      const writer = (async () => {
        for (let id = 1; id <= 5000 && !stop; id++) {
          const r = await sql(sw, url, `INSERT INTO acked VALUES (${id})`, 10_000);
          if (r.code === 0) {
            acked.push(id);
            if (killedAt && !firstOkAfterKill) firstOkAfterKill = Date.now();
          } else {
            failedWrites++;
            lastFailAt = Date.now();
            await sleep(200);
          }
        }
      })();
      await sleep(3000);
      const before = acked.length;
      expect(before).toBeGreaterThan(0);
      const killed = leader!;
      const pids = await crash(boxes.get(killed.key)!);
      killedAt = Date.now();
      log(`killed ${killed.key} (pids ${pids}) after ${before} acknowledged writes`);

      // A new leader without anyone acting, within ttl + loop_wait (+ a few seconds of promotion).
      const bound = (FAILOVER.ttl + FAILOVER.loopWait + 10) * 1000;
      let next: Container | undefined;
      await sw.waitFor("a new leader", async () => {
        for (const c of members) if (c !== killed && (await api(sw, c, "/primary")) === 200) next = c;
        return next !== undefined;
      }, bound);
      const electedMs = Date.now() - killedAt;
      figure("patroni_new_leader_seconds", (electedMs / 1000).toFixed(1));
      await sw.waitFor("writes resume", async () => firstOkAfterKill > 0, bound);
      const resumedMs = firstOkAfterKill - killedAt;
      figure("patroni_writes_resumed_seconds", (resumedMs / 1000).toFixed(1));
      expect(resumedMs).toBeLessThanOrEqual(bound);
      await sleep(2000);

      // The old leader, started again on its own data, rejoins as a standby and refuses writes.
      const restartedAt = Date.now();
      await startDaemon(boxes.get(killed.key)!, killed);
      await sw.waitFor("old leader on /replica", async () => (await api(sw, killed, "/replica")) === 200, 120_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n--- ${killed.key} ---\n${await daemonLog(boxes.get(killed.key)!)}`);
      });
      figure("patroni_old_leader_rejoined_seconds", ((Date.now() - restartedAt) / 1000).toFixed(1));
      expect(await api(sw, killed, "/primary")).toBe(503);
      const direct = `host=${killed.address} port=5432 user=app dbname=app`;
      expect((await sql(sw, direct, "SELECT pg_is_in_recovery()")).stdout.trim()).toBe("t");
      const refused = await sql(sw, direct, "INSERT INTO acked VALUES (-1)");
      expect(refused.stderr).toMatch(/read-only transaction/);

      stop = true;
      await writer;
      // Exactly one writable member at the end.
      const primaries = await Promise.all(members.map((c) => api(sw, c, "/primary")));
      expect(primaries.filter((x) => x === 200)).toHaveLength(1);
      // Every acknowledged write is on the new leader.
      const rows = await sql(sw, url, "SELECT id FROM acked ORDER BY id");
      const have = new Set(rows.stdout.trim().split("\n").map(Number));
      const lost = acked.filter((id) => !have.has(id));
      figure("patroni_acknowledged_writes", `${acked.length} (${before} before the kill), ${failedWrites} failed attempts, ${lost.length} lost`);
      expect(lost).toEqual([]);
      expect(acked.length).toBeGreaterThan(before);
      log(`last failed write ${lastFailAt ? ((lastFailAt - killedAt) / 1000).toFixed(1) : "-"} s after the kill`);

      // Memory of the new parts, for the budgets' constants (lib/core/failover.ts).
      const rss = async (box: Sandbox, pattern: string) => {
        const r = await box.sh(`for p in /proc/[0-9]*; do if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '${pattern}'; then awk '/VmRSS/ {print $2}' $p/status; fi; done`);
        return Math.max(0, ...r.stdout.split(/\s+/).filter(Boolean).map(Number)) / 1024;
      };
      const patroniRss = await rss(boxes.get(next!.key)!, "^/usr/bin/python3 /usr/bin/patroni ");
      const etcdRss = await rss(boxes.get("db-etcd-1")!, "^etcd ");
      figure("patroni_rss_mib", patroniRss.toFixed(1));
      figure("etcd_rss_mib", etcdRss.toFixed(1));
      expect(patroniRss).toBeGreaterThan(0);
      expect(etcdRss).toBeGreaterThan(0);
    } finally {
      for (const b of all()) await b.stop();
      await sw.stop();
    }
  }, 600_000);
});
