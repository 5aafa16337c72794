/**
 * Automatic failover of examples/ha-site on the suite's private Docker engine: three PostgreSQL
 * members under Patroni (one synchronous standby), three etcd members. One apply shared by the
 * scenarios below, in order, destroyed in afterAll even when a scenario fails.
 *
 *  1. every container healthy; exactly one member writable, the others streaming standbys
 *  2. SIGKILL to the leader's container under write load through the load balancer: a standby is
 *     promoted with nobody acting, writes resume within ttl + loop_wait + 10 s, no acknowledged write lost
 *  3. the old leader started again on its volume: it rejoins as a standby, refuses a direct write
 *  4. the leader cut off the stack network, left running: it demotes itself; never two writable members
 *
 * Throughout, a sampler asks every member `pg_is_in_recovery()` twice a second and records any sample
 * where two members answer writable. All traffic goes to 127.0.0.1 or the suite's own containers;
 * every loop is bounded in count and time. Figures are printed as `FIGURE <name>: <value>` lines.
 */
import { Testing } from "cdktf";
import { buildHaSiteStack } from "../../examples/ha-site/stack";
import { apply, exec, generateVariables, inspect, waitHealthy } from "./applier";
import { call } from "./docker-api";
import { recovery, lostOf, patroniApi, startWriters, writableOf, WritableSampler, type Acked, waitSyncStandby } from "./failover-probes";
import { figure, psql, settled, sleep, startContainer } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 8080;
const log = (...a: unknown[]) => process.stdout.write(`[e2e failover] ${a.join(" ")}\n`);

describeE2e("e2e failover: examples/ha-site loses its primary on a real Docker engine", () => {
  const session = newSession();
  type Cluster = ReturnType<ReturnType<typeof buildHaSiteStack>["cluster"]>;
  let cluster: Cluster;
  let members: Cluster["plan"]["containers"];
  let NET: string;
  let ttl = 0;
  let loopWait = 0;
  let retryTimeout = 0;
  const DB = "app";

  const writable = () => writableOf(members);
  const api = patroniApi;
  const recoveryOf = recovery;
  let sampler: WritableSampler;
  const overlaps = () => sampler.overlaps;
  const writers = (maxMs: number) => startWriters(LB_PORT, maxMs);
  const lost = (acked: Acked[], on: string) => lostOf(acked, on, DB);

  beforeAll(async () => {
    cluster = buildHaSiteStack(Testing.app()).cluster();
    members = cluster.plan.containers.filter((c) => c.role === "postgres-patroni");
    sampler = new WritableSampler(members);
    NET = cluster.plan.network.name;
    const f = cluster.topology.components.find((c) => c.kind === "database")!.settings as { failover: { ttl: number; loopWait: number; retryTimeout: number } };
    ({ ttl, loopWait, retryTimeout } = f.failover);
    await openSession(session, "ha-site", log);
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
  });

  afterAll(async () => {
    await sampler?.stop();
    await closeSession(session, log);
  });

  test("1. every container healthy; one writable member, two streaming standbys", async () => {
    const health = await waitHealthy(session.handle!, 180_000);
    figure("ha_health_seconds", (health.elapsedMs / 1000).toFixed(1));
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.ok).toBe(true);
    let w: typeof members = [];
    for (let i = 0; i < 60 && w.length !== 1; i++) {
      w = await writable();
      if (w.length !== 1) await sleep(1000);
    }
    expect(w).toHaveLength(1);
    const leader = w[0];
    log(`leader: ${leader.name}`);
    expect(await api(leader, "/primary")).toBe(200);
    for (const m of members.filter((x) => x !== leader)) {
      expect(await recoveryOf(m.name)).toBe("t");
      expect(await api(m, "/replica")).toBe(200);
      expect(await api(m, "/primary")).toBe(503);
    }
    // Patroni names one synchronous standby (synchronous_mode, synchronous_node_count 1).
    let ssn = "";
    for (let i = 0; i < 40 && ssn === ""; i++) {
      ssn = await psql(leader.name, "postgres", "show synchronous_standby_names");
      if (ssn === "") await sleep(1000);
    }
    log(`synchronous_standby_names = ${ssn}`);
    expect(ssn).toMatch(/^"ha-site-db-(primary|replica-\d)"$|^"db-(primary|replica-\d)"$/);
    expect((await settled(LB_PORT, "/hits?write=1", 201, 30)).status).toBe(201);
  });

  let killed: Cluster["plan"]["containers"][number];

  test("2. SIGKILL to the leader's container: a standby is promoted by itself, writes resume, none lost", async () => {
    const [leader] = await writable();
    expect(leader).toBeDefined();
    killed = leader;
    const bound = (ttl + loopWait + 10) * 1000;
    const load = writers(bound + 60_000);
    sampler.start(Date.now() + bound + 60_000);
    let resumedS = NaN;
    try {
      await sleep(3000);
      expect(load.acked.length).toBeGreaterThan(0);
      const tKill = Date.now();
      await call("POST", `/containers/${encodeURIComponent(leader.name)}/kill`, undefined, { allow: [409] });
      log(`killed ${leader.name} after ${load.acked.length} acknowledged writes`);
      let next: typeof members = [];
      for (let i = 0; i < bound / 250 && !load.acked.some((a) => a.t > tKill && a.addr !== leader.address); i++) await sleep(250);
      const first = load.acked.find((a) => a.t > tKill && a.addr !== leader.address);
      expect(first).toBeDefined();
      resumedS = (first!.t - tKill) / 1000;
      figure("ha_kill_writes_resumed_seconds", resumedS.toFixed(1));
      next = await writable();
      expect(next.map((m) => m.name)).toHaveLength(1);
      expect(next[0].name).not.toBe(leader.name);
      log(`new leader: ${next[0].name}`);
      const state = (await inspect(leader.name)) as unknown as { State: { Running: boolean }; RestartCount: number };
      log(`killed container: running=${state.State.Running} restarts=${state.RestartCount}`);
      expect(state.State.Running).toBe(false);
      for (let i = 0; i < 40 && load.acked.filter((a) => a.addr === next[0].address).length < 20; i++) await sleep(250);
    } finally {
      await load.stop();
      await sampler.stop();
    }
    log(`write errors during failover: ${JSON.stringify(load.errors)}`);
    const [leaderNow] = await writable();
    const lostIds = await lost(load.acked, leaderNow.name);
    figure("ha_kill_acknowledged_writes", `${load.acked.length}, ${lostIds.length} lost`);
    expect(lostIds).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(ttl + loopWait + 10);
    figure("ha_kill_overlap_samples", `${overlaps().length} of ${sampler.samples} samples so far`);
    expect(overlaps()).toEqual([]);
  });

  test("3. the old leader, started again on its volume, rejoins as a standby and refuses a direct write", async () => {
    const t0 = Date.now();
    sampler.start(Date.now() + 150_000);
    try {
      await startContainer(killed.name);
      let replica = 0;
      for (let i = 0; i < 240 && replica !== 200; i++) {
        replica = await api(killed, "/replica");
        if (replica !== 200) await sleep(500);
      }
      expect(replica).toBe(200);
      figure("ha_old_leader_rejoined_seconds", ((Date.now() - t0) / 1000).toFixed(1));
    } finally {
      await sampler.stop();
    }
    expect(await recoveryOf(killed.name)).toBe("t");
    expect(await api(killed, "/primary")).toBe(503);
    const direct = await exec(killed.name, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", DB, "-Atqc", "insert into hits (request_id) values ('direct')"], "postgres");
    log(`direct write on the old leader: exit ${direct.exitCode}: ${direct.output.trim()}`);
    expect(direct.exitCode).not.toBe(0);
    expect(direct.output).toMatch(/read-only transaction/);
    expect(await writable()).toHaveLength(1);
    figure("ha_rejoin_overlap_samples", `${overlaps().length} of ${sampler.samples} samples so far`);
    expect(overlaps()).toEqual([]);
  });

  test("4. the leader cut off the network, left running: it stops taking writes before another is promoted", async () => {
    // The precondition of an automatic failover in synchronous mode: a registered synchronous standby.
    figure("ha_sync_standby_registered_seconds", (await waitSyncStandby(members, 60_000)).toFixed(1));
    const [leader] = await writable();
    const others = members.filter((m) => m !== leader);
    const t0 = Date.now();
    const load = writers(240_000);
    sampler.start(Date.now() + 240_000);
    let notWritableS = NaN;
    let standbyS = NaN;
    let electedS = NaN;
    let resumedS = NaN;
    try {
      await sleep(3000);
      const tCut = Date.now();
      await call("POST", `/networks/${encodeURIComponent(NET)}/disconnect`, { Container: leader.name, Force: true });
      log(`disconnected ${leader.name} from ${NET} after ${load.acked.length} acknowledged writes`);
      for (let i = 0; i < 480 && (Number.isNaN(notWritableS) || Number.isNaN(electedS) || Number.isNaN(standbyS)); i++) {
        const own = await recoveryOf(leader.name);
        if (Number.isNaN(notWritableS) && own !== "f") notWritableS = (Date.now() - tCut) / 1000;
        if (Number.isNaN(standbyS) && own === "t") standbyS = (Date.now() - tCut) / 1000;
        if (Number.isNaN(electedS) && (await Promise.all(others.map((m) => recoveryOf(m.name)))).includes("f")) electedS = (Date.now() - tCut) / 1000;
        await sleep(250);
      }
      figure("ha_cut_old_leader_not_writable_seconds", notWritableS.toFixed(1));
      figure("ha_cut_old_leader_standby_seconds", standbyS.toFixed(1));
      figure("ha_cut_new_leader_seconds", electedS.toFixed(1));
      for (let i = 0; i < 480 && !load.acked.some((a) => a.t > tCut && a.addr !== leader.address); i++) await sleep(250);
      const first = load.acked.find((a) => a.t > tCut && a.addr !== leader.address);
      resumedS = first ? (first.t - tCut) / 1000 : NaN;
      figure("ha_cut_writes_resumed_seconds", resumedS.toFixed(1));
      // Patroni's rule loop_wait + 2 x retry_timeout <= ttl: the leader stops before its lock expires.
      expect(notWritableS).toBeLessThanOrEqual(loopWait + 2 * retryTimeout + 5);
      expect(notWritableS).toBeLessThan(electedS);
      expect(electedS).toBeLessThanOrEqual(ttl + loopWait + 10);
    } finally {
      await call("POST", `/networks/${encodeURIComponent(NET)}/connect`, { Container: leader.name, EndpointConfig: { IPAMConfig: { IPv4Address: leader.address } } }).catch((e) => log(`reconnect: ${e}`));
    }
    try {
      let replica = 0;
      for (let i = 0; i < 240 && replica !== 200; i++) {
        replica = await api(leader, "/replica");
        if (replica !== 200) await sleep(500);
      }
      expect(replica).toBe(200);
      figure("ha_cut_rejoined_seconds", ((Date.now() - t0) / 1000).toFixed(1));
    } finally {
      await load.stop();
      await sampler.stop();
    }
    log(`write errors: ${JSON.stringify(load.errors)}`);
    log(`overlaps: ${JSON.stringify(overlaps())}`);
    const [leaderNow] = await writable();
    const lostIds = await lost(load.acked, leaderNow.name);
    figure("ha_cut_acknowledged_writes", `${load.acked.length}, ${lostIds.length} lost`);
    figure("ha_cut_overlap_samples", `${overlaps().length} of ${sampler.samples} samples so far`);
    expect(await writable()).toHaveLength(1);
    expect(lostIds).toEqual([]);
    expect(overlaps()).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(ttl + loopWait + 10);
  });

  test("5. the synchronous standby stopped: Patroni names the other standby, writes go on (synchronous_mode_strict: false)", async () => {
    const [leader] = await writable();
    const ssn = await psql(leader.name, "postgres", "show synchronous_standby_names");
    const sync = members.find((m) => `"${m.key}"` === ssn);
    expect(sync).toBeDefined();
    const load = writers(120_000);
    let stallS = 0;
    let after = "";
    try {
      await sleep(3000);
      const tStop = Date.now();
      await call("POST", `/containers/${encodeURIComponent(sync!.name)}/kill`, undefined, { allow: [409] });
      log(`killed the synchronous standby ${sync!.name}`);
      // Every value synchronous_standby_names takes on the way, with its time: '' is a window in which
      // commits were acknowledged without a standby (synchronous_mode_strict: false allows it).
      const steps: string[] = [`0.0s ${ssn}`];
      let last = ssn;
      for (let i = 0; i < 120 && (after === "" || after === ssn); i++) {
        after = await psql(leader.name, "postgres", "show synchronous_standby_names");
        if (after !== last) steps.push(`${((Date.now() - tStop) / 1000).toFixed(1)}s ${after || "''"}`);
        last = after;
        if (after === "" || after === ssn) await sleep(500);
      }
      figure("ha_sync_standby_renamed_seconds", ((Date.now() - tStop) / 1000).toFixed(1));
      figure("ha_sync_standby_names_steps", steps.join(" -> "));
      await sleep(5000);
      // The longest gap between two acknowledged writes from the stop on.
      const ts = [tStop, ...load.acked.filter((a) => a.t > tStop).map((a) => a.t)];
      for (let i = 1; i < ts.length; i++) stallS = Math.max(stallS, (ts[i] - ts[i - 1]) / 1000);
      figure("ha_sync_standby_longest_write_gap_seconds", stallS.toFixed(1));
    } finally {
      await load.stop();
    }
    log(`synchronous_standby_names ${ssn} -> ${after}; write errors: ${JSON.stringify(load.errors)}`);
    const other = members.find((m) => m !== leader && m !== sync)!;
    expect(after).toBe(`"${other.key}"`);
    expect((await writable()).map((m) => m.name)).toEqual([leader.name]);
    // A commit waits for the stopped standby until Patroni's next HA loop names the other one.
    expect(stallS).toBeLessThanOrEqual(loopWait + retryTimeout);
    expect(await lost(load.acked, leader.name)).toEqual([]);
    await startContainer(sync!.name);
    let replica = 0;
    for (let i = 0; i < 240 && replica !== 200; i++) {
      replica = await api(sync!, "/replica");
      if (replica !== 200) await sleep(500);
    }
    expect(replica).toBe(200);
  });

  test("6. etcd: one member stopped changes nothing; two stopped (no quorum) demote the leader, as Patroni documents without failsafe_mode", async () => {
    const etcd = cluster.plan.containers.filter((c) => c.role === "etcd");
    const [leader] = await writable();
    const load = writers(240_000);
    sampler.start(Date.now() + 240_000);
    const stopped: string[] = [];
    let demotedS = NaN;
    let resumedS = NaN;
    try {
      await sleep(3000);
      await call("POST", `/containers/${encodeURIComponent(etcd[0].name)}/kill`, undefined, { allow: [409] });
      stopped.push(etcd[0].name);
      const t1 = Date.now();
      await sleep((2 * loopWait + retryTimeout) * 1000);
      const during1 = load.acked.filter((a) => a.t > t1);
      figure("ha_etcd_one_down_writes", `${during1.length} acknowledged in ${2 * loopWait + retryTimeout} s`);
      expect((await writable()).map((m) => m.name)).toEqual([leader.name]);
      expect(during1.length).toBeGreaterThan(10);
      expect(during1.every((a) => a.addr === leader.address)).toBe(true);

      await call("POST", `/containers/${encodeURIComponent(etcd[1].name)}/kill`, undefined, { allow: [409] });
      stopped.push(etcd[1].name);
      const t2 = Date.now();
      for (let i = 0; i < 4 * (ttl + loopWait) && Number.isNaN(demotedS); i++) {
        if ((await writable()).length === 0) demotedS = (Date.now() - t2) / 1000;
        else await sleep(250);
      }
      figure("ha_etcd_no_quorum_leader_demoted_seconds", demotedS.toFixed(1));
      expect(demotedS).toBeLessThanOrEqual(loopWait + 2 * retryTimeout + 5);
      await sleep(5000);
      expect(await writable()).toEqual([]);

      const t3 = Date.now();
      for (const name of stopped) await startContainer(name);
      stopped.length = 0;
      for (let i = 0; i < 4 * (ttl + loopWait) && !load.acked.some((a) => a.t > t3); i++) await sleep(250);
      const first = load.acked.find((a) => a.t > t3);
      resumedS = first ? (first.t - t3) / 1000 : NaN;
      figure("ha_etcd_quorum_back_writes_resumed_seconds", resumedS.toFixed(1));
      expect(resumedS).toBeLessThanOrEqual(ttl + loopWait + 10);
    } finally {
      for (const name of stopped) await startContainer(name).catch((e) => log(`start ${name}: ${e}`));
      await load.stop();
      await sampler.stop();
    }
    const [leaderNow] = await writable();
    log(`leader after quorum returned: ${leaderNow?.name}; write errors: ${JSON.stringify(load.errors)}`);
    expect(await lost(load.acked, leaderNow.name)).toEqual([]);
    figure("ha_etcd_overlap_samples", `${overlaps().length} of ${sampler.samples} samples so far`);
    expect(overlaps()).toEqual([]);
  });
});
