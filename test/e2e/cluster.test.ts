/**
 * End-to-end cluster behaviour of examples/small-site on the suite's private Docker engine: one apply
 * shared by the scenarios below, in order, destroyed in afterAll even when a scenario fails.
 *
 *  1. every container healthy within HEALTH_BOUND_MS; inspect equals the model (image, memory, restart,
 *     address, webstack.config-hash = containerFingerprint(spec))
 *  2. write on the primary, read it back from the replica, no cache/queue on small-site (503)
 *  3. one X-Request-ID followed through HAProxy, nginx and the app logs
 *  4. synchronous streaming replication: visible on the standby within 1 s; the standby refuses writes
 *  5. the WS-DB-CONNECTIONS budget is PostgreSQL's real limit; the app holds what the connection model counts
 *  6. losing a web node under load: HAProxy marks it DOWN, few failed requests, it rejoins
 *  7. losing the primary: promote the standby, measure write downtime, no acknowledged write lost
 * 7b. fencing: the old primary started again refuses to run beside the promoted standby
 *  8. memory peaks (sampled during 6-7) stay under each container's limit
 *  9. throughput through the load balancer vs. one app container directly (test-only extra container)
 *
 * All traffic goes to 127.0.0.1. Every loop is bounded in count and time. Measured figures are
 * printed as `FIGURE <name>: <value>` lines.
 */
import { randomBytes } from "node:crypto";
import { Testing } from "cdktf";
import { buildSmallSiteStack } from "../../examples/small-site/stack";
import { containerFingerprint } from "../../lib/core/hash";
import {
  apply,
  exec,
  generateVariables,
  inspect,
  waitHealthy,
} from "./applier";
import { call, request } from "./docker-api";
import { startWriters } from "./failover-probes";
import { DIRECT_APP, figure, logLines, psql, PSQL, req, settled, removeDirectApp, sleep, startContainer, startDirectApp, startLoad, startMemorySampler, stopContainer, waitLog, wrk, type Res } from "./scenarios";
import { expectConnectionBudget, expectRequestIdTraced } from "./shared-scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 8080; // small-site's LoadBalancer httpPort
const DIRECT_PORT = DIRECT_APP.port; // test-only container of scenario 9
const DIRECT_NAME = DIRECT_APP.name;
const HEALTH_BOUND_MS = 120_000;
const MiB = 1024 * 1024;
const log = (...a: unknown[]) => process.stdout.write(`[e2e cluster] ${a.join(" ")}\n`);


// --------------------------------------------------------------------------------------------

describeE2e("e2e cluster: examples/small-site behaviour on a real Docker engine", () => {
  const session = newSession();
  // What the model says, built in-process (in beforeAll, so a skipped run builds nothing).
  type Cluster = ReturnType<ReturnType<typeof buildSmallSiteStack>["cluster"]>;
  let cluster: Cluster;
  let specs: Cluster["plan"]["containers"];
  const spec = (key: string) => {
    const s = specs.find((c) => c.key === key);
    if (!s) throw new Error(`no container ${key} in the model`);
    return s;
  };
  let NET: string;
  let PRIMARY: Cluster["plan"]["containers"][number];
  let REPLICA: Cluster["plan"]["containers"][number];
  /** The database name in the app's DATABASE_URL (postgresql://user:pw@hosts/NAME?...). */
  const dbName = () => {
    const u = String(spec("web-1-app").env.DATABASE_URL);
    return /\/([^/?]+)/.exec(u.slice(u.lastIndexOf("@")))![1];
  };
  let memory: ReturnType<typeof startMemorySampler> | undefined;

  beforeAll(async () => {
    cluster = buildSmallSiteStack(Testing.app()).cluster();
    specs = cluster.plan.containers;
    NET = cluster.plan.network.name;
    PRIMARY = spec("db-primary");
    REPLICA = spec("db-replica-1");
    await openSession(session, "small-site", log);
    await call("DELETE", `/containers/${DIRECT_NAME}?force=1`, undefined, { allow: [404] });
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
  });

  afterAll(async () => {
    memory?.stop();
    if (session.engineStarted) await call("DELETE", `/containers/${DIRECT_NAME}?force=1`, undefined, { allow: [404] }).catch((e) => log(`removing ${DIRECT_NAME}: ${e}`));
    await closeSession(session, log);
  });

  test("1. every container is healthy within 120 s and is what the model says", async () => {
    const health = await waitHealthy(session.handle!, HEALTH_BOUND_MS);
    figure("health_seconds", (health.elapsedMs / 1000).toFixed(1));
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");
    expect(health.ok).toBe(true);
    expect(health.elapsedMs).toBeLessThanOrEqual(HEALTH_BOUND_MS);

    expect(session.handle!.containers.map((c) => c.name).sort()).toEqual(specs.map((s) => s.name).sort());
    const mismatches: string[] = [];
    for (const s of specs) {
      const i = (await inspect(s.name)) as unknown as {
        Image: string;
        Config: { Labels: Record<string, string> };
        HostConfig: { Memory: number; MemorySwap: number; RestartPolicy: { Name: string } };
        NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
      };
      const img = await call<{ Id: string }>("GET", `/images/${encodeURIComponent(s.image)}/json`);
      const want = {
        image: img.Id,
        memory: s.memoryMiB * MiB,
        memorySwap: s.memoryMiB * MiB,
        restart: "unless-stopped",
        address: s.address,
        configHash: containerFingerprint(s),
        role: s.role,
      };
      const got = {
        image: i.Image,
        memory: i.HostConfig.Memory,
        memorySwap: i.HostConfig.MemorySwap,
        restart: i.HostConfig.RestartPolicy.Name,
        address: i.NetworkSettings.Networks[NET]?.IPAddress,
        configHash: i.Config.Labels["webstack.config-hash"],
        role: i.Config.Labels["webstack.role"],
      };
      for (const k of Object.keys(want) as Array<keyof typeof want>) {
        if (want[k] !== got[k]) mismatches.push(`${s.name}: ${k} is ${JSON.stringify(got[k])}, model says ${JSON.stringify(want[k])}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  test("2. /hits writes on the primary, /hits/<id> reads from the standby; small-site has no cache or queue (503)", async () => {
    expect((await settled(LB_PORT, "/ping", 200)).status).toBe(200);
    const w = await settled(LB_PORT, "/hits?write=1", 201);
    log(`GET /hits?write=1 -> ${w.status} ${w.body.trim()}`);
    expect(w.status).toBe(201);
    const hit = JSON.parse(w.body) as { id: number; role: string; server: { addr: string; in_recovery: boolean } };
    expect(hit.role).toBe("primary");
    expect(hit.server).toMatchObject({ addr: PRIMARY.address, in_recovery: false });

    // synchronous_commit = on waits for the standby's flush, not its replay: allow a short lag.
    let r: Res = { status: 0, body: "", headers: {} };
    for (let i = 0; i < 10 && r.status !== 200; i++) {
      r = await req(LB_PORT, "GET", `/hits/${hit.id}`);
      if (r.status !== 200) await sleep(200);
    }
    log(`GET /hits/${hit.id} -> ${r.status} ${r.body.trim()}`);
    expect(r.status).toBe(200);
    const read = JSON.parse(r.body) as { id: number; role: string; server: { addr: string; in_recovery: boolean } };
    expect(read).toMatchObject({ id: hit.id, role: "replica", server: { addr: REPLICA.address, in_recovery: true } });

    // small-site declares no Cache and no Queue: the app says so with a 503 (cache/task are checked on invenio).
    for (const p of ["/cache", "/cache", "/task?x=2&y=3"]) {
      const c = await req(LB_PORT, "GET", p);
      log(`GET ${p} -> ${c.status} ${c.body.trim()}`);
      expect(c.status).toBe(503);
      expect(c.body).toMatch(p.startsWith("/cache") ? /CACHE_URL is not set/ : /CELERY_BROKER_URL is not set/);
    }
  });

  test("3. one X-Request-ID is in the HAProxy, nginx and app logs; a request without one gets one", async () => {
    await expectRequestIdTraced({ port: LB_PORT, containers: specs, appRole: "gunicorn", lbName: "small-site-lb", log });
  });

  test("4. a row committed on the primary is visible on the standby within 1 s; the standby refuses writes", async () => {
    const db = dbName();
    const tag = `e2e-repl-${randomBytes(6).toString("hex")}`;
    // The standby polls first (every 50 ms, at most 80 times = 4 s + psql time) for the row by its tag and
    // prints the time it saw it; the primary prints the time just before its psql starts the insert.
    // Both clocks are the host's, so visible_ms = seen - insert start (an upper bound: psql start-up included).
    const script =
      'i=0; while [ $i -lt 80 ]; do n=$(psql -h /var/run/postgresql -U postgres -d "$1" -Atqc "select count(*) from hits where request_id = \'$2\'"); ' +
      'if [ "$n" = 1 ]; then date +%s%N; echo "polls=$((i+1))"; exit 0; fi; i=$((i+1)); sleep 0.05; done; echo never; exit 1';
    const poller = exec(REPLICA.name, ["sh", "-c", script, "sh", db, tag], "postgres");
    await sleep(500);
    const ins = await exec(PRIMARY.name, ["sh", "-c", 'date +%s%N; psql -h /var/run/postgresql -U postgres -d "$1" -Atqc "$2"', "sh", db, `insert into hits (request_id) values ('${tag}') returning id`], "postgres");
    expect(ins.exitCode).toBe(0);
    const [t0, id] = ins.output.trim().split("\n").map((x) => x.trim());
    expect(id).toMatch(/^\d+$/);
    const seen = await poller;
    log(`standby poll: exit ${seen.exitCode}: ${seen.output.trim().replace(/\n/g, " ")}`);
    expect(seen.exitCode).toBe(0);
    const visibleMs = Number(BigInt(seen.output.trim().split("\n")[0]) - BigInt(t0)) / 1e6;
    figure("replication_visible_ms", visibleMs.toFixed(1));
    expect(visibleMs).toBeLessThan(1000);

    const write = await exec(REPLICA.name, PSQL(db, `insert into hits (request_id) values ('${tag}-standby')`), "postgres");
    log(`write on the standby: exit ${write.exitCode}: ${write.output.trim()}`);
    expect(write.exitCode).not.toBe(0);
    expect(write.output).toMatch(/cannot execute INSERT in a read-only transaction/);
  });

  test("5. the WS-DB-CONNECTIONS budget is PostgreSQL's own limit, and the app holds what the connection model counts", async () => {
    const { used: N } = await expectConnectionBudget({
      findings: cluster.findings,
      primary: PRIMARY,
      app: spec("web-1-app").name,
      db: dbName(),
      figures: { used: "db_connections_budget_used", limit: "db_connections_budget_limit", refusedAt: "db_connection_refused_at" },
      log,
    });

    // The connection model's bound, live: twice the concurrency the tier serves, each request holding
    // one connection for 2 s through HAProxy, while pg_stat_activity is sampled per app process
    // (client address + application_name webstack_example/<pid>). No process may hold more than its
    // threads, and the tier never more than the model's count.
    const web = cluster.topology.components.find((c) => c.kind === "webTier")!;
    const { nodes, processes, threads } = web.settings as { nodes: number; processes: number; threads: number };
    const requests = 2 * nodes * processes * threads;
    const held = Promise.all(Array.from({ length: requests }, () => req(LB_PORT, "GET", "/db/hold?s=2", {}, 30_000).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }))));
    const PER_PROCESS = "select coalesce(host(client_addr), 'local') || ' ' || application_name, count(*) from pg_stat_activity where application_name like 'webstack_example/%' group by 1";
    let peakTotal = 0;
    let peakProcess = 0;
    const started = Date.now();
    while (Date.now() - started < 5_000) {
      const rows = (await psql(PRIMARY.name, dbName(), PER_PROCESS)).split("\n").filter(Boolean).map((l) => Number(l.split("|")[1]));
      peakTotal = Math.max(peakTotal, rows.reduce((a, b) => a + b, 0));
      peakProcess = Math.max(peakProcess, ...rows, 0);
      await sleep(100);
    }
    const answers = await held;
    figure("db_hold_requests_ok", `${answers.filter((a) => a.status === 200).length}/${requests}`);
    figure("db_connections_peak_per_process", `${peakProcess} (threads ${threads})`);
    figure("db_connections_peak_tier", `${peakTotal} (model ${N})`);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    expect(peakProcess).toBe(threads);
    expect(peakTotal).toBeLessThanOrEqual(N);
    expect(peakTotal).toBeGreaterThan(0);
  });

  test("6. losing web-1: HAProxy marks it DOWN, few requests fail, it rejoins", async () => {
    memory = startMemorySampler(specs.map((s) => s.name), 240_000);
    const lb = spec("lb").name;
    const load = startLoad(LB_PORT, 8, "/ping", 40_000);
    let down: { t: number; line: string } | undefined;
    let up: { t: number; line: string } | undefined;
    let tStop = 0;
    let tStart = 0;
    let stopMs = 0;
    // inter / fall as rendered into haproxy.cfg (the model's defaults: inter 5000 fall 2 rise 1).
    const cfg = spec("lb").files.find((f) => f.path.endsWith("haproxy.cfg"))!.content;
    const m = /default-server check inter (\d+) fastinter (\d+) fall (\d+) rise (\d+)/.exec(cfg);
    expect(m).not.toBeNull();
    const [interMs, fastInterMs, fall] = [Number(m![1]), Number(m![2]), Number(m![3])];
    // A check of a vanished address fails when its connect times out: min(timeout connect, inter).
    const connectMs = Math.min(Number(/timeout connect (\d+)ms/.exec(cfg)![1]), interMs);
    try {
      await sleep(2000);
      tStop = Date.now();
      await Promise.all([stopContainer(spec("web-1-nginx").name), stopContainer(spec("web-1-app").name)]);
      stopMs = Date.now() - tStop;
      log(`web-1 nginx and app stopped in ${stopMs} ms`);
      down = await waitLog(lb, /Server app\/web-1 is DOWN/, tStop, 25_000);
      log(`HAProxy: ${down?.line ?? "(no DOWN line within 25 s)"}`);
    } finally {
      // Always bring web-1 back, so the later scenarios run on the full cluster.
      tStart = Date.now();
      await startContainer(spec("web-1-app").name);
      await startContainer(spec("web-1-nginx").name);
      up = await waitLog(lb, /Server app\/web-1 is UP/, tStart, 30_000);
      log(`HAProxy: ${up?.line ?? "(no UP line within 30 s)"}`);
      await sleep(2000); // some traffic after the rejoin is part of the window
      load.stop();
    }
    const res = await load.done;
    const rel = (t: number) => `${((t - tStop) / 1000).toFixed(1)} s`;
    if (res.failedAt.length) log(`failed requests ended between ${rel(Math.min(...res.failedAt))} and ${rel(Math.max(...res.failedAt))} after the stop began`);
    // HAProxy's own account of the failures (status, termination state, retries): at most 5 lines.
    const lbFailures = (await logLines(lb, tStop)).filter((l) => / (50[234]) /.test(l.line) && /request_id=/.test(l.line));
    for (const l of lbFailures.slice(0, 5)) log(`HAProxy log at ${rel(l.t)}: ${l.line}`);
    expect(down).toBeDefined();
    const downS = (down!.t - tStop) / 1000;
    figure("lb_mark_down_seconds", downS.toFixed(2));
    expect(up).toBeDefined();
    figure("rejoin_seconds", ((up!.t - tStart) / 1000).toFixed(2));
    figure("total_requests_losing_node", res.total);
    figure("failed_requests_losing_node", res.failed);
    log(`failures: ${JSON.stringify(res.failures)}`);
    // A stopped container's address is gone: checks get no RST, each failing check lasts its connect
    // timeout. The first failure comes within inter + connect; after it HAProxy checks every fastinter,
    // so the node is down within inter + connect + (fall - 1) x (fastinter + connect), which the rendered
    // defaults (5 s, 2 s, 1 s, fall 2) keep within fall x inter = 10 s. Plus the stop itself and 1 s slack.
    const worstS = (interMs + connectMs + (fall - 1) * (fastInterMs + connectMs)) / 1000;
    expect(worstS).toBeLessThanOrEqual((fall * interMs) / 1000);
    const boundS = stopMs / 1000 + worstS + 1;
    log(`DOWN bound: stop ${stopMs} ms + inter ${interMs} + connect ${connectMs} + ${fall - 1} x (fastinter ${fastInterMs} + connect ${connectMs}) ms + 1 s = ${boundS.toFixed(1)} s`);
    expect(downS).toBeLessThanOrEqual(boundS);
    // rise 1: the first check after the start (at most inter = 5 s away) plus the app's start-up.
    expect((up!.t - tStart) / 1000).toBeLessThanOrEqual(15);
    expect(res.total).toBeGreaterThan(100);
    // Bound: what web-1 had in flight when it stopped (HAProxy maxconn 3 per server), or 2 % of all.
    expect(res.failed).toBeLessThanOrEqual(Math.max(3, Math.ceil(0.02 * res.total)));
  });

  test("7. losing the primary: promote the standby, writes resume, no acknowledged write is lost", async () => {
    const db = dbName();
    // Two writers through the load balancer, for at most 90 s.
    const writers = startWriters(LB_PORT, 90_000);
    const { acked, errors } = writers;
    let downtimeS = NaN;
    try {
      await sleep(2000);
      expect(acked.length).toBeGreaterThan(0);
      const tStop = Date.now();
      await stopContainer(PRIMARY.name);
      log(`primary stopped in ${Date.now() - tStop} ms; ${acked.length} writes acknowledged so far`);
      const promote = await exec(REPLICA.name, ["/etc/postgresql/promote.sh"], "postgres");
      log(`promote.sh: exit ${promote.exitCode}: ${promote.output.trim()}`);
      expect(promote.exitCode).toBe(0);
      expect(await psql(REPLICA.name, db, "select pg_is_in_recovery()")).toBe("f");

      // Only the primary renders synchronous_standby_names: the promoted standby waits for no standby,
      // and the test changes no setting to get its writes through.
      expect(await psql(REPLICA.name, db, "show synchronous_standby_names")).toBe("");
      // Writes resume on the promoted node (at most 60 s).
      for (let i = 0; i < 240 && !acked.some((a) => a.t > tStop && a.addr === REPLICA.address); i++) await sleep(250);
      const first = acked.find((a) => a.t > tStop && a.addr === REPLICA.address);
      expect(first).toBeDefined();
      downtimeS = (first!.t - tStop) / 1000;
      figure("failover_write_downtime_seconds", downtimeS.toFixed(2));
      // Bound: the 60 s this test waits; the promotion itself takes about a second.
      expect(downtimeS).toBeLessThanOrEqual(60);
      // A few more writes on the new primary. Until every app process has replaced its pool's broken
      // connections they come slowly: each new connection tries the stopped primary's address first
      // (the URL lists it first) and waits about 3 s for its ARP to fail (9 writes in the first 10 s once).
      for (let i = 0; i < 120 && acked.filter((a) => a.addr === REPLICA.address).length < 10; i++) await sleep(250);
      const tenth = acked.filter((a) => a.addr === REPLICA.address)[9];
      if (tenth) figure("failover_ten_writes_seconds", ((tenth.t - first!.t) / 1000).toFixed(2));
    } finally {
      await writers.stop();
    }
    log(`write errors during failover: ${JSON.stringify(errors)}`);
    const before = acked.filter((a) => a.addr === PRIMARY.address).length;
    const after = acked.filter((a) => a.addr === REPLICA.address).length;
    figure("acknowledged_writes", `${acked.length} (${before} on the old primary, ${after} on the promoted standby)`);
    expect(after).toBeGreaterThanOrEqual(10);
    const ids = acked.map((a) => a.id);
    const present = await psql(REPLICA.name, db, `select id from hits where id = any('{${ids.join(",")}}'::bigint[]) order by id`);
    const have = new Set(present.split("\n").filter(Boolean).map(Number));
    const lost = ids.filter((id) => !have.has(id));
    figure("acknowledged_writes_lost", lost.length);
    if (lost.length) log(`lost ids: ${lost.join(",")}`);
    // synchronous_standby_names = 'ANY 1 (db_replica_1)' with synchronous_commit = on: a commit is
    // acknowledged only after the standby flushed it, so the promoted standby has every one.
    expect(lost).toEqual([]);
  });

  test("7b. fencing: the old primary's container started again does not come back writable beside the promoted standby", async () => {
    const db = dbName();
    const t0 = Date.now();
    await startContainer(PRIMARY.name);
    // For 20 s (its start.sh asks the promoted node, then exits and is restarted), it never answers writable.
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await exec(PRIMARY.name, PSQL(db, "select pg_is_in_recovery()"), "postgres").catch(() => ({ exitCode: -1, output: "" }));
      seen.push(r.exitCode === 0 ? r.output.trim() : "-");
      await sleep(500);
    }
    const refusal = await waitLog(PRIMARY.name, /is a primary; not starting this node writable/, t0, 5_000);
    log(`old primary after start: ${seen.join("")} (f = writable, - = not answering); ${refusal?.line ?? "no refusal line"}`);
    await stopContainer(PRIMARY.name);
    expect(refusal?.line).toContain(`start.sh: ${REPLICA.address} is a primary`);
    expect(seen).not.toContain("f");
    expect(await psql(REPLICA.name, db, "select pg_is_in_recovery()")).toBe("f");
    figure("fencing_old_primary_writable_samples", `${seen.filter((x) => x === "f").length} of ${seen.length}`);
  });

  test("8. memory: every container's peak (sampled during 6-7) stays under its limit", async () => {
    expect(memory).toBeDefined();
    memory!.stop();
    const peaks = await memory!.done;
    const problems: string[] = [];
    for (const s of specs) {
      const p = peaks[s.name];
      const limit = s.memoryMiB * MiB;
      log(
        `${s.name}: ${p.samples} samples, working set peak ${(p.workingSet / MiB).toFixed(1)} MiB, usage peak ${(p.usage / MiB).toFixed(1)} MiB, ` +
          `max_usage ${(p.maxUsage / MiB).toFixed(1)} MiB, limit ${(p.limit / MiB).toFixed(0)} MiB (model ${s.memoryMiB})`,
      );
      figure(`peak_memory_${s.name}_MiB`, (p.workingSet / MiB).toFixed(1));
      if (p.samples === 0) problems.push(`${s.name}: no sample`);
      if (p.limit !== limit) problems.push(`${s.name}: engine limit ${p.limit} != model ${limit}`);
      if (!(p.workingSet < limit)) problems.push(`${s.name}: working set peak ${p.workingSet} >= limit ${limit}`);
      if ((await inspect(s.name)).State.OOMKilled) problems.push(`${s.name}: OOM-killed`);
    }
    expect(problems).toEqual([]);
  });

  test("9. throughput: GET /ping through the load balancer vs. one app container directly", async () => {
    // TEST-ONLY baseline: web-1-app's image, env, command and deployed gunicorn.conf.py in a second
    // container on 127.0.0.1:18000 (startDirectApp), removed below and in afterAll.
    // `npm run bench:proxy` measures the same pair in several alternating rounds; this is one round.
    try {
      await startDirectApp(spec("web-1-app").name, NET, "cluster.test.ts scenario 9");
      const ping = await settled(DIRECT_PORT, "/ping", 200, 30);
      expect(ping.status).toBe(200);
      expect((await settled(LB_PORT, "/ping", 200)).status).toBe(200);

      const viaLb = wrk(`http://127.0.0.1:${LB_PORT}/ping`);
      const direct = wrk(`http://127.0.0.1:${DIRECT_PORT}/ping`);
      for (const [n, r] of [["via_lb", viaLb], ["direct", direct]] as const) {
        log(`wrk ${n}: ${r.requests} requests, non-2xx ${r.non2xx}, ${r.socketErrors}`);
        figure(`rps_${n}`, r.rps.toFixed(1));
        figure(`latency_p50_${n}_ms`, r.p50ms.toFixed(2));
        figure(`latency_p99_${n}_ms`, r.p99ms.toFixed(2));
        expect(r.rps).toBeGreaterThan(0);
        expect(r.requests).toBeGreaterThan(0);
        expect(r.non2xx).toBe(0);
        expect(Number.isFinite(r.p50ms) && Number.isFinite(r.p99ms)).toBe(true);
      }
      const ratio = viaLb.rps / direct.rps;
      figure("rps_ratio_lb_over_direct", ratio.toFixed(2));
      // A loose floor, one 5 s round on a shared 2-core machine: it catches a pathology (a proxy that
      // closes every connection, logs synchronously to a full pipe, ...), not a regression of a few
      // percent. The >= 0.85 target is measured by `npm run bench:proxy` (median of paired rounds).
      expect(ratio).toBeGreaterThanOrEqual(0.5);
    } finally {
      await removeDirectApp();
    }
    expect((await request("GET", `/containers/${DIRECT_NAME}/json`)).status).toBe(404);
  });
});
