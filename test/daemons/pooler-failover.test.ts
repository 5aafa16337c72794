/**
 * Failover behind the pooler on the real daemons: three etcd 3.4 members and three Patroni 3.0 members
 * (PostgreSQL 15), the router (HAProxy 2.6) and PgBouncer 1.18, each started from its rendered files
 * in its own sandbox on one bridge. A writer inserts through PgBouncer only; the leader is killed
 * (SIGKILL to Patroni and the postmaster), or, on a second cluster, cut off the bridge and left
 * running; the router's /primary checks move the pools to the new leader: writes resume through
 * PgBouncer with nothing re-rendered, none acknowledged is lost.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf, fileIn, sleep, type Container } from "./harness";
import { testWith } from "./harness";
import { api, crash, daemonLog, plug, sql } from "./patroni-cluster";

const it = testWith(["/usr/lib/postgresql/15/bin/postgres", "psql", "patroni", "etcd", "etcdctl", "curl", "haproxy", "pgbouncer", "unshare", "nsenter", "ip"]);
const log = (...a: unknown[]) => process.stdout.write(`[pooler-failover] ${a.join(" ")}\n`);
const figure = (name: string, value: unknown) => process.stdout.write(`FIGURE ${name}: ${value}\n`);

const SUBNET = "10.92.0.0/16";
const CLIENT = "10.92.0.5";
const FAILOVER = { ttl: 20, loopWait: 5, retryTimeout: 5 };
const ROUTER_CFG = "/usr/local/etc/haproxy/haproxy.cfg";

function stack(): Container[] {
  return containersOf((scope) => {
    const s = new WebStack(scope, "pf", { subnet: SUBNET });
    const db = new Database(s, "db", { maxConnections: 60, replicas: 2, synchronousReplicas: 1, memoryMiB: 1024, failover: FAILOVER, pooler: { defaultPoolSize: 5, reservePoolSize: 1 } });
    const web = new WebTier(s, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
    new LoadBalancer(s, "lb", { defaultTarget: web });
    return s;
  });
}

describe.each(["kill", "cut"] as const)("PgBouncer behind the router follows Patroni's leader (%s)", (how) => {
  it(`haproxy -c accepts the rendered router; after the leader is ${how === "kill" ? "killed" : "cut off the bridge, left running"}, writes through PgBouncer resume on the new leader, none lost`, async () => {
    const cs = stack();
    const etcd = ["db-etcd-1", "db-etcd-2", "db-etcd-3"].map((k) => container(cs, k));
    const members = ["db-primary", "db-replica-1", "db-replica-2"].map((k) => container(cs, k));
    const router = container(cs, "db-pooler-router");
    const pooler = container(cs, "db-pooler");
    const web = container(cs, "web-1-app");

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-router-"));
    fs.writeFileSync(path.join(dir, "haproxy.cfg"), fileIn(router, ROUTER_CFG));
    execFileSync("haproxy", ["-c", "-f", path.join(dir, "haproxy.cfg")], { stdio: "pipe" });
    fs.rmSync(dir, { recursive: true });

    // The app reaches PgBouncer only; PgBouncer reaches the router only.
    expect(String(web.env.DATABASE_URL)).toContain(`@${pooler.address}:6432/app`);
    expect(fileIn(pooler, "/etc/pgbouncer/pgbouncer.ini")).toContain(`app = host=${router.address} port=5432`);
    const viaPooler = (db = "app") => `host=${pooler.address} port=6432 user=app dbname=${db} connect_timeout=5`;

    const sw = new Sandbox("switch", { files: [] });
    const boxes = new Map<string, Sandbox>();
    let stop = false;
    let writer: Promise<void> | undefined;
    try {
      await sw.start();
      const brUp = await sw.sh(`ip link add br0 type bridge && ip addr add ${CLIENT}/16 dev br0 && ip link set br0 up`);
      expect(brUp.stderr).toBe("");
      let n = 0;
      for (const c of etcd) boxes.set(c.key, await plug(sw, c, n++, "mkdir -p /var/lib/etcd", true));
      const pgSetup = "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql";
      for (const c of members) boxes.set(c.key, await plug(sw, c, n++, pgSetup, true));
      // Under the rendered nofile limit, as Docker applies it (HAProxy refuses to start below what it needs).
      const nofile = (router.ulimits as { name: string; soft: number; hard: number }[]).find((u) => u.name === "nofile")!;
      const limited = { ...router, command: ["prlimit", `--nofile=${nofile.soft}:${nofile.hard}`, ...router.command] };
      boxes.set(router.key, await plug(sw, limited, n++, "mkdir -p /var/lib/haproxy", true, "haproxy"));
      // PgBouncer refuses to run as root; its images run it as an unprivileged user.
      boxes.set(pooler.key, await plug(sw, pooler, n++, "", true, "postgres"));

      let leader: Container | undefined;
      await sw.waitFor("a Patroni leader and two standbys", async () => {
        const codes = await Promise.all(members.map((c) => api(sw, c, "/primary")));
        leader = members[codes.indexOf(200)];
        const replicas = await Promise.all(members.map((c) => api(sw, c, "/replica")));
        return leader !== undefined && replicas.filter((x) => x === 200).length === 2;
      }, 180_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n${(await Promise.all(members.map(async (c) => `--- ${c.key} ---\n${await daemonLog(boxes.get(c.key)!)}`))).join("\n")}`);
      });
      log(`leader: ${leader!.key}`);
      // Until a standby streams and the leader names it in /sync, Patroni may promote any member within
      // maximum_lag_on_failover, and commits are acknowledged unprotected: zero loss holds from here.
      const t0 = Date.now();
      await sw.waitFor("a synchronous standby", async () => {
        const body = (await sw.exec(["curl", "-s", "--max-time", "2", `http://${leader!.address}:8008/cluster`])).stdout;
        return /"role": ?"sync_standby"/.test(body);
      }, 120_000).catch(async (e) => {
        const seen = await Promise.all(members.map(async (c) => `--- ${c.key} ---\n${(await sql(sw, `host=${c.address} port=5432 user=app dbname=app connect_timeout=3`, "SELECT status, coalesce(sender_host, '') FROM pg_stat_wal_receiver")).stdout}\n${await daemonLog(boxes.get(c.key)!)}`));
        throw new Error(`${(e as Error).message}\n${seen.join("\n")}`);
      });
      figure(`pooler_failover_${how}_sync_standby_seconds`, ((Date.now() - t0) / 1000).toFixed(1));

      // Through PgBouncer and the router: writes land on the leader, reads on a standby.
      let where = "";
      await sw.waitFor("PgBouncer reaches the leader", async () => {
        where = (await sql(sw, viaPooler(), "SELECT host(inet_server_addr()) || ' ' || pg_is_in_recovery()")).stdout.trim();
        return where !== "";
      }, 60_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n--- router ---\n${await daemonLog(boxes.get(router.key)!)}\n--- pooler ---\n${await daemonLog(boxes.get(pooler.key)!)}`);
      });
      expect(where).toBe(`${leader!.address} false`);
      const ro = (await sql(sw, viaPooler("app_ro"), "SELECT pg_is_in_recovery()")).stdout.trim();
      expect(ro).toBe("t");
      expect((await sql(sw, viaPooler(), "CREATE TABLE IF NOT EXISTS acked (id int primary key, addr text)")).stderr).toBe("");

      const acked: { id: number; addr: string; t: number }[] = [];
      let failedWrites = 0;
      const errors = new Map<string, number>();
      let killedAt = 0;
      writer = (async () => {
        for (let id = 1; id <= 5000 && !stop; id++) {
          const r = await sql(sw, viaPooler(), `INSERT INTO acked VALUES (${id}, host(inet_server_addr())) RETURNING addr`, 10_000);
          if (r.code === 0) acked.push({ id, addr: r.stdout.trim().split("\n")[0], t: Date.now() });
          else {
            failedWrites++;
            const msg = (r.stderr.trim().split("\n")[0] || `exit ${r.code}`).replace(/\d+/g, "N");
            errors.set(msg, (errors.get(msg) ?? 0) + 1);
            await sleep(200);
          }
        }
      })();
      await sleep(3000);
      const before = acked.length;
      expect(before).toBeGreaterThan(0);
      expect(new Set(acked.map((a) => a.addr))).toEqual(new Set([leader!.address]));
      const killed = leader!;
      if (how === "kill") await crash(boxes.get(killed.key)!);
      else {
        // The switch's end of the leader's link goes down: the leader runs on, nothing reaches it.
        const down = await sw.sh(`ip link set ps${3 + members.indexOf(killed)} down`);
        expect(down.stderr).toBe("");
      }
      killedAt = Date.now();
      log(`${how} ${killed.key} after ${before} acknowledged writes`);

      const bound = (FAILOVER.ttl + FAILOVER.loopWait + 10) * 1000;
      let next: Container | undefined;
      await sw.waitFor("a new leader", async () => {
        for (const c of members) if (c !== killed && (await api(sw, c, "/primary")) === 200) next = c;
        return next !== undefined;
      }, bound);
      const electedMs = Date.now() - killedAt;
      figure(`pooler_failover_${how}_new_leader_seconds`, (electedMs / 1000).toFixed(1));
      // Waits past the bound so that a failure says how late writes came back, if they did.
      await sw.waitFor("writes through PgBouncer on a new leader", async () => acked.some((a) => a.t > killedAt && a.addr !== killed.address), 2 * bound).catch(async (e) => {
        const seen = [...errors].map(([m, k]) => `${k} x ${m}`).join("\n");
        const states = await Promise.all(members.filter((c) => c !== killed).map(async (c) => `--- ${c.key} /patroni ---\n${(await sw.exec(["curl", "-s", "--max-time", "2", `http://${c.address}:8008/patroni`])).stdout}\n${await daemonLog(boxes.get(c.key)!)}`));
        const keep = fs.mkdtempSync(path.join(os.tmpdir(), `pooler-failover-${how}-`));
        for (const [key, b] of boxes) fs.writeFileSync(path.join(keep, `${key}.log`), (await b.sh("cat /tmp/daemon.log")).stdout);
        throw new Error(`${(e as Error).message} (every daemon's log: ${keep})\n--- failed writes ---\n${seen}\n--- router ---\n${await daemonLog(boxes.get(router.key)!)}\n--- pooler ---\n${await daemonLog(boxes.get(pooler.key)!)}\n${states.join("\n")}`);
      });
      const first = acked.find((a) => a.t > killedAt && a.addr !== killed.address)!;
      const resumedMs = first.t - killedAt;
      figure(`pooler_failover_${how}_writes_resumed_seconds`, (resumedMs / 1000).toFixed(1));
      expect(resumedMs).toBeLessThanOrEqual(bound);
      // Behind the new leader by the router's rise checks (and one check interval), PgBouncer's
      // server_login_retry (1 s) and a writer's retry: under 3 x inter + 1 s + 3 s.
      const inter = Number(/ inter (\d+)ms/.exec(fileIn(router, ROUTER_CFG))![1]);
      figure(`pooler_failover_${how}_writes_after_leader_seconds`, ((resumedMs - electedMs) / 1000).toFixed(1));
      expect(resumedMs - electedMs).toBeLessThanOrEqual(3 * inter + 4000);
      expect(first.addr).toBe(next!.address);
      // Nothing acknowledged after the kill came from the dead leader.
      expect(acked.filter((a) => a.t > killedAt + 1000 && a.addr === killed.address)).toEqual([]);
      await sleep(3000);
      stop = true;
      await writer;

      const rows = await sql(sw, viaPooler(), "SELECT id FROM acked ORDER BY id");
      const have = new Set(rows.stdout.trim().split("\n").map(Number));
      const lost = acked.filter((a) => !have.has(a.id)).map((a) => a.id);
      figure(`pooler_failover_${how}_acknowledged_writes`, `${acked.length} (${before} before the kill), ${failedWrites} failed attempts, ${lost.length} lost`);
      expect(lost).toEqual([]);
      // The read pool still reaches a standby (the third member).
      expect((await sql(sw, viaPooler("app_ro"), "SELECT pg_is_in_recovery()")).stdout.trim()).toBe("t");
    } finally {
      stop = true;
      await writer;
      for (const b of boxes.values()) await b.stop();
      await sw.stop();
    }
  }, 600_000);
});
