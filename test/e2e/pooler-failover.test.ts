/**
 * Automatic failover behind the pooler, examples/ha-pooled-site on the suite's private Docker engine:
 * the app reaches PostgreSQL only through PgBouncer, whose server connections go through the pooler's
 * router (HAProxy checking Patroni's GET /primary). One apply shared by the scenarios, in order,
 * destroyed in afterAll even when a scenario fails.
 *
 *  1. every container healthy; the router publishes nothing; writes through the pooler land on the leader
 *  2. SIGKILL to the leader's container under write load: writes resume through the same PgBouncer on
 *     the new leader within ttl + loop_wait + 10 s, nothing redeployed or restarted, none lost
 *  3. the old leader started again: it rejoins as a standby, writes stay on the leader
 *  4. the leader cut off the stack network, left running: the router cuts its sessions, writes resume
 *     on the new leader through the pooler, none lost
 *
 * Throughout, a sampler records any moment two members answer writable; the test asserts none.
 * Figures are printed as `FIGURE <name>: <value>` lines.
 */
import { Testing } from "cdktf";
import { buildHaPooledSiteStack } from "../../examples/ha-pooled-site/stack";
import { apply, generateVariables, inspect, waitHealthy } from "./applier";
import { call } from "./docker-api";
import { lostOf, patroniApi, patroniBody, recovery, waitSyncStandby, startWriters, writableOf, WritableSampler, type Acked } from "./failover-probes";
import { figure, logLines, settled, sleep, startContainer } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 8080;
const DB = "app";
const log = (...a: unknown[]) => process.stdout.write(`[e2e pooler-failover] ${a.join(" ")}\n`);

interface State {
  State: { Running: boolean; StartedAt: string };
  RestartCount: number;
  HostConfig: { PortBindings?: Record<string, unknown> | null };
}

describeE2e("e2e failover behind the pooler: examples/ha-pooled-site loses its primary on a real Docker engine", () => {
  const session = newSession();
  type Cluster = ReturnType<ReturnType<typeof buildHaPooledSiteStack>["cluster"]>;
  type Member = Cluster["plan"]["containers"][number];
  let members: Member[];
  let pooler: Member;
  let router: Member;
  let NET: string;
  let bound = 0;
  let sampler: WritableSampler;
  const started: Record<string, string> = {};
  const writable = () => writableOf(members);
  const lost = (acked: Acked[], on: string) => lostOf(acked, on, DB);

  /** The pooler and the router run on, never restarted nor recreated. */
  async function poolPathUntouched(): Promise<void> {
    for (const c of [pooler, router]) {
      const s = (await inspect(c.name)) as unknown as State;
      expect({ name: c.name, running: s.State.Running, restarts: s.RestartCount, startedAt: s.State.StartedAt }).toEqual({ name: c.name, running: true, restarts: 0, startedAt: started[c.name] });
    }
  }

  /** Kills or cuts the leader under write load; returns when writes came back on another member. */
  async function loseLeader(what: "kill" | "cut", leader: Member): Promise<{ resumedS: number; acked: Acked[] }> {
    const load = startWriters(LB_PORT, bound + 90_000);
    sampler.start(Date.now() + bound + 90_000);
    let resumedS = NaN;
    try {
      await sleep(3000);
      expect(load.acked.length).toBeGreaterThan(0);
      expect(new Set(load.acked.map((a) => a.addr))).toEqual(new Set([leader.address]));
      const t0 = Date.now();
      if (what === "kill") await call("POST", `/containers/${encodeURIComponent(leader.name)}/kill`, undefined, { allow: [409] });
      else await call("POST", `/networks/${encodeURIComponent(NET)}/disconnect`, { Container: leader.name, Force: true });
      log(`${what} ${leader.name} after ${load.acked.length} acknowledged writes`);
      let electedS = NaN;
      for (let i = 0; i < bound / 250 && !load.acked.some((a) => a.t > t0 && a.addr !== leader.address); i++) {
        if (Number.isNaN(electedS) && i % 4 === 0 && (await writable()).some((m) => m !== leader)) electedS = (Date.now() - t0) / 1000;
        await sleep(250);
      }
      figure(`ha_pooled_${what}_new_leader_seconds`, electedS.toFixed(1));
      const first = load.acked.find((a) => a.t > t0 && a.addr !== leader.address);
      if (!first) {
        log(`no write back: writable ${(await writable()).map((m) => m.name)}, /primary ${await Promise.all(members.map((m) => patroniApi(m, "/primary")))}, errors ${JSON.stringify(load.errors)}`);
        for (const m of members.filter((x) => x !== leader)) log(`${m.name} GET /cluster: ${await patroniBody(m, "/cluster")}`);
        // Who the leaders named synchronous, since the apply (the /sync key decides who may take over).
        for (const m of members) {
          const sync = (await logLines(m.name, 2000)).filter((l) => /synchronous|Synchronous|promoted self|acquired session lock/.test(l.line));
          log(`--- ${m.name} (synchronous standby lines) ---\n${sync.map((l) => `${((l.t - t0) / 1000).toFixed(1)} ${l.line}`).join("\n")}`);
        }
        // Patroni's decisions (INFO/WARNING lines), without its tracebacks.
        const decisions = /^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING|ERROR): (?!Exception happened|Traceback)/;
        for (const c of [router, pooler, ...members]) {
          const lines = (await logLines(c.name, t0 - 5000)).filter((l) => c === router || c === pooler || decisions.test(l.line));
          log(`--- ${c.name} ---\n${lines.slice(-60).map((l) => `${((l.t - t0) / 1000).toFixed(1)} ${l.line}`).join("\n")}`);
        }
      }
      expect(first).toBeDefined();
      resumedS = (first!.t - t0) / 1000;
      // Nothing acknowledged from the lost leader once its sessions were cut (fall x (inter + timeout) after it stopped answering).
      const late = load.acked.filter((a) => a.t > first!.t && a.addr === leader.address);
      expect(late).toEqual([]);
      for (let i = 0; i < 40 && load.acked.filter((a) => a.addr === first!.addr).length < 20; i++) await sleep(250);
      expect(await patroniApi(members.find((m) => m.address === first!.addr)!, "/primary")).toBe(200);
    } finally {
      if (what === "cut") {
        await call("POST", `/networks/${encodeURIComponent(NET)}/connect`, { Container: leader.name, EndpointConfig: { IPAMConfig: { IPv4Address: leader.address } } }).catch((e) => log(`reconnect: ${e}`));
      }
      await load.stop();
      await sampler.stop();
    }
    log(`write errors: ${JSON.stringify(load.errors)}`);
    return { resumedS, acked: load.acked };
  }

  beforeAll(async () => {
    const cluster = buildHaPooledSiteStack(Testing.app()).cluster();
    members = cluster.plan.containers.filter((c) => c.role === "postgres-patroni");
    pooler = cluster.plan.containers.find((c) => c.role === "pgbouncer")!;
    router = cluster.plan.containers.find((c) => c.role === "pg-router")!;
    sampler = new WritableSampler(members);
    NET = cluster.plan.network.name;
    const f = (cluster.topology.components.find((c) => c.kind === "database")!.settings as { failover: { ttl: number; loopWait: number } }).failover;
    bound = (f.ttl + f.loopWait + 10) * 1000;
    await openSession(session, "ha-pooled-site", log);
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
  });

  afterAll(async () => {
    await sampler?.stop();
    await closeSession(session, log);
  });

  test("1. every container healthy; the router is internal; writes through the pooler land on the leader", async () => {
    const health = await waitHealthy(session.handle!, 180_000);
    figure("ha_pooled_health_seconds", (health.elapsedMs / 1000).toFixed(1));
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.ok).toBe(true);
    let w: Member[] = [];
    for (let i = 0; i < 60 && w.length !== 1; i++) {
      w = await writable();
      if (w.length !== 1) await sleep(1000);
    }
    expect(w).toHaveLength(1);
    log(`leader: ${w[0].name}`);
    for (const c of [pooler, router]) {
      const s = (await inspect(c.name)) as unknown as State;
      started[c.name] = s.State.StartedAt;
      expect(Object.keys(s.HostConfig.PortBindings ?? {})).toEqual([]);
    }
    const r = await settled(LB_PORT, "/hits?write=1", 201, 60);
    expect(r.status).toBe(201);
    expect((JSON.parse(r.body) as { server: { addr: string } }).server.addr).toBe(w[0].address);
  });

  let killed: Member;

  test("2. SIGKILL to the leader's container: writes resume through the same pooler on the new leader, none lost", async () => {
    const [leader] = await writable();
    killed = leader;
    const { resumedS, acked } = await loseLeader("kill", leader);
    figure("ha_pooled_kill_writes_resumed_seconds", resumedS.toFixed(1));
    const [now] = await writable();
    const lostIds = await lost(acked, now.name);
    figure("ha_pooled_kill_acknowledged_writes", `${acked.length}, ${lostIds.length} lost`);
    expect(lostIds).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(bound / 1000);
    figure("ha_pooled_kill_overlap_samples", `${sampler.overlaps.length} of ${sampler.samples} samples so far`);
    expect(sampler.overlaps).toEqual([]);
    await poolPathUntouched();
  });

  test("3. the old leader started again rejoins as a standby; writes through the pooler stay on the leader", async () => {
    const t0 = Date.now();
    await startContainer(killed.name);
    let replica = 0;
    for (let i = 0; i < 240 && replica !== 200; i++) {
      replica = await patroniApi(killed, "/replica");
      if (replica !== 200) await sleep(500);
    }
    expect(replica).toBe(200);
    figure("ha_pooled_old_leader_rejoined_seconds", ((Date.now() - t0) / 1000).toFixed(1));
    expect(await recovery(killed.name)).toBe("t");
    const [leader] = await writable();
    const r = await settled(LB_PORT, "/hits?write=1", 201, 30);
    expect((JSON.parse(r.body) as { server: { addr: string } }).server.addr).toBe(leader.address);
    await poolPathUntouched();
  });

  test("4. the leader cut off the network, left running: the router moves the pools, writes resume, none lost", async () => {
    // The precondition of an automatic failover in synchronous mode: a registered synchronous standby.
    figure("ha_pooled_sync_standby_registered_seconds", (await waitSyncStandby(members, 60_000)).toFixed(1));
    const [leader] = await writable();
    const { resumedS, acked } = await loseLeader("cut", leader);
    figure("ha_pooled_cut_writes_resumed_seconds", resumedS.toFixed(1));
    let replica = 0;
    for (let i = 0; i < 240 && replica !== 200; i++) {
      replica = await patroniApi(leader, "/replica");
      if (replica !== 200) await sleep(500);
    }
    expect(replica).toBe(200);
    const [now] = await writable();
    const lostIds = await lost(acked, now.name);
    figure("ha_pooled_cut_acknowledged_writes", `${acked.length}, ${lostIds.length} lost`);
    figure("ha_pooled_overlap_samples", `${sampler.overlaps.length} of ${sampler.samples} samples`);
    expect(await writable()).toHaveLength(1);
    expect(lostIds).toEqual([]);
    expect(sampler.overlaps).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(bound / 1000);
    await poolPathUntouched();
  });
});
