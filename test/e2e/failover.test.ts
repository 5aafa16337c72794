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
import { figure, psql, req, settled, sleep, startContainer } from "./scenarios";
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

  /** "f" writable, "t" standby, "" not answering (stopped, starting, or refusing). */
  const recovery = async (name: string) => {
    const r = await exec(name, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atqc", "select pg_is_in_recovery()"], "postgres").catch(() => ({ exitCode: -1, output: "" }));
    return r.exitCode === 0 ? r.output.trim() : "";
  };
  const writable = async () => {
    const states = await Promise.all(members.map(async (m) => [m, await recovery(m.name)] as const));
    return states.filter(([, s]) => s === "f").map(([m]) => m);
  };
  /** HTTP status of a GET to a member's Patroni REST API, asked from inside that member (python3 ships with Patroni). */
  const api = async (m: Cluster["plan"]["containers"][number], path: string) => {
    const py = `import urllib.request,sys\ntry:\n  print(urllib.request.urlopen('http://${m.address}:8008${path}', timeout=2).status)\nexcept urllib.error.HTTPError as e:\n  print(e.code)\nexcept Exception:\n  print(0)`;
    const r = await exec(m.name, ["python3", "-c", py], "postgres").catch(() => ({ exitCode: -1, output: "0" }));
    return Number(r.output.trim() || 0);
  };

  // Sampler: every 500 ms (bounded by `until`), how many members answer writable.
  const overlaps: string[] = [];
  let samples = 0;
  let sampling = false;
  const sampler = async (until: number) => {
    sampling = true;
    while (sampling && Date.now() < until) {
      const w = await writable();
      samples++;
      if (w.length > 1) overlaps.push(`${new Date().toISOString()} ${w.map((m) => m.name).join(" + ")}`);
      await sleep(500);
    }
  };

  /** Bounded writer through the load balancer: POST /hits, acknowledged ids with time and server. */
  function startWriters(maxMs: number) {
    const acked: Array<{ id: number; t: number; addr: string }> = [];
    const errors: Record<string, number> = {};
    let stop = false;
    const deadline = Date.now() + maxMs;
    const writer = async () => {
      for (let i = 0; i < 20_000 && !stop && Date.now() < deadline; i++) {
        const r = await req(LB_PORT, "POST", "/hits", {}, 30_000).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
        if (r.status === 201) {
          const b = JSON.parse(r.body) as { id: number; server: { addr: string } };
          acked.push({ id: b.id, t: Date.now(), addr: b.server.addr });
        } else {
          const k = `${r.status} ${r.body.trim().slice(0, 100)}`;
          errors[k] = (errors[k] ?? 0) + 1;
          await sleep(100);
        }
      }
    };
    const done = Promise.all([writer(), writer()]);
    return { acked, errors, stop: async () => ((stop = true), await done) };
  }

  async function lostOf(acked: Array<{ id: number }>, on: string): Promise<number[]> {
    const ids = acked.map((a) => a.id);
    if (ids.length === 0) return [];
    const present = await psql(on, DB, `select id from hits where id = any('{${ids.join(",")}}'::bigint[]) order by id`);
    const have = new Set(present.split("\n").filter(Boolean).map(Number));
    return ids.filter((id) => !have.has(id));
  }

  beforeAll(async () => {
    cluster = buildHaSiteStack(Testing.app()).cluster();
    members = cluster.plan.containers.filter((c) => c.role === "postgres-patroni");
    NET = cluster.plan.network.name;
    const f = cluster.topology.components.find((c) => c.kind === "database")!.settings as { failover: { ttl: number; loopWait: number; retryTimeout: number } };
    ({ ttl, loopWait, retryTimeout } = f.failover);
    await openSession(session, "ha-site", log);
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
  });

  afterAll(async () => {
    sampling = false;
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
      expect(await recovery(m.name)).toBe("t");
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
    const load = startWriters(bound + 60_000);
    const sampling$ = sampler(Date.now() + bound + 60_000);
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
      sampling = false;
      await sampling$;
    }
    log(`write errors during failover: ${JSON.stringify(load.errors)}`);
    const [leaderNow] = await writable();
    const lost = await lostOf(load.acked, leaderNow.name);
    figure("ha_kill_acknowledged_writes", `${load.acked.length}, ${lost.length} lost`);
    expect(lost).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(ttl + loopWait + 10);
    figure("ha_kill_overlap_samples", `${overlaps.length} of ${samples}`);
    expect(overlaps).toEqual([]);
  });

  test("3. the old leader, started again on its volume, rejoins as a standby and refuses a direct write", async () => {
    const t0 = Date.now();
    const sampling$ = sampler(Date.now() + 150_000);
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
      sampling = false;
      await sampling$;
    }
    expect(await recovery(killed.name)).toBe("t");
    expect(await api(killed, "/primary")).toBe(503);
    const direct = await exec(killed.name, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", DB, "-Atqc", "insert into hits (request_id) values ('direct')"], "postgres");
    log(`direct write on the old leader: exit ${direct.exitCode}: ${direct.output.trim()}`);
    expect(direct.exitCode).not.toBe(0);
    expect(direct.output).toMatch(/read-only transaction/);
    expect(await writable()).toHaveLength(1);
    figure("ha_rejoin_overlap_samples", `${overlaps.length} of ${samples}`);
    expect(overlaps).toEqual([]);
  });

  test("4. the leader cut off the network, left running: it stops taking writes before another is promoted", async () => {
    const [leader] = await writable();
    const others = members.filter((m) => m !== leader);
    const t0 = Date.now();
    const load = startWriters(240_000);
    const sampling$ = sampler(Date.now() + 240_000);
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
        const own = await recovery(leader.name);
        if (Number.isNaN(notWritableS) && own !== "f") notWritableS = (Date.now() - tCut) / 1000;
        if (Number.isNaN(standbyS) && own === "t") standbyS = (Date.now() - tCut) / 1000;
        if (Number.isNaN(electedS) && (await Promise.all(others.map((m) => recovery(m.name)))).includes("f")) electedS = (Date.now() - tCut) / 1000;
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
      sampling = false;
      await sampling$;
    }
    log(`write errors: ${JSON.stringify(load.errors)}`);
    log(`overlaps: ${JSON.stringify(overlaps)}`);
    const [leaderNow] = await writable();
    const lost = await lostOf(load.acked, leaderNow.name);
    figure("ha_cut_acknowledged_writes", `${load.acked.length}, ${lost.length} lost`);
    figure("ha_cut_overlap_samples", `${overlaps.length} of ${samples}`);
    expect(await writable()).toHaveLength(1);
    expect(lost).toEqual([]);
    expect(overlaps).toEqual([]);
    expect(resumedS).toBeLessThanOrEqual(ttl + loopWait + 10);
  });

  test("5. the synchronous standby stopped: Patroni names the other standby, writes go on (synchronous_mode_strict: false)", async () => {
    const [leader] = await writable();
    const ssn = await psql(leader.name, "postgres", "show synchronous_standby_names");
    const sync = members.find((m) => `"${m.key}"` === ssn);
    expect(sync).toBeDefined();
    const load = startWriters(120_000);
    let stallS = 0;
    let after = "";
    try {
      await sleep(3000);
      const tStop = Date.now();
      await call("POST", `/containers/${encodeURIComponent(sync!.name)}/kill`, undefined, { allow: [409] });
      log(`killed the synchronous standby ${sync!.name}`);
      for (let i = 0; i < 120 && (after === "" || after === ssn); i++) {
        after = await psql(leader.name, "postgres", "show synchronous_standby_names");
        if (after === "" || after === ssn) await sleep(500);
      }
      figure("ha_sync_standby_renamed_seconds", ((Date.now() - tStop) / 1000).toFixed(1));
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
    expect(await lostOf(load.acked, leader.name)).toEqual([]);
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
    const load = startWriters(240_000);
    const sampling$ = sampler(Date.now() + 240_000);
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
      sampling = false;
      await sampling$;
    }
    const [leaderNow] = await writable();
    log(`leader after quorum returned: ${leaderNow?.name}; write errors: ${JSON.stringify(load.errors)}`);
    expect(await lostOf(load.acked, leaderNow.name)).toEqual([]);
    figure("ha_etcd_overlap_samples", `${overlaps.length} of ${samples}`);
    expect(overlaps).toEqual([]);
  });
});
