/**
 * Proxy-chain benchmark on the e2e suite's real Docker engine: GET /ping through HAProxy -> nginx ->
 * gunicorn (examples/small-site, 127.0.0.1:8080) vs. the same app straight (a test-only container from
 * web-1-app's image, env, command and deployed gunicorn.conf.py on 127.0.0.1:18000, as cluster.test.ts
 * scenario 9 makes it), in N paired rounds. Each round runs both sides back to back with the same wrk
 * load, and which side goes first alternates, so a slow spell of the shared machine hits both. Before
 * every run the host's TIME_WAIT backlog of the previous direct run drains (see calmHost).
 * Prints every round, the median req/s of each side and the median of the per-round ratios, the CPU
 * each component spent per request (container cgroups, dockerd/containerd/shims, docker-proxy, the rest
 * of the machine) and the TIME_WAIT sockets on the host and in the nginx containers.
 *
 *   npm run bench:proxy [-- --rounds 5 --duration 10 --connections 8 --threads 2]
 *
 * Root only (like the e2e suite). Takes the suite lock, starts the engine, builds or finds the images,
 * synthesizes and applies examples/small-site, and destroys everything and stops the engine at the end,
 * also after a failure or Ctrl-C (WEBSTACK_E2E_KEEP_ENGINE=1 leaves the engine running). All traffic
 * goes to 127.0.0.1; every wrk run is bounded by --duration.
 */
import * as fs from "node:fs";
import { Testing } from "cdktf";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { apply, ENGINE_SOCKET, generateVariables, inspect, waitHealthy } from "../test/e2e/applier";
import { call } from "../test/e2e/docker-api";
import { DIRECT_APP, removeDirectApp, settled, startDirectApp, wrk, type WrkOptions, type WrkResult } from "../test/e2e/scenarios";
import { closeSession, newSession, openSession } from "../test/e2e/session";

process.env.CHECKPOINT_DISABLE = "1";

const LB_PORT = 8080; // small-site's LoadBalancer httpPort
const TARGET = 0.85;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number, got ${process.argv[i + 1]}`);
  return v;
}
const ROUNDS = arg("rounds", 5);
const LOAD: Required<WrkOptions> = { durationS: arg("duration", 10), connections: arg("connections", 8), threads: arg("threads", 2) };
const WARMUP: Required<WrkOptions> = { ...LOAD, durationS: 2 };

const log = (...a: unknown[]) => process.stdout.write(`[bench proxy] ${a.join(" ")}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ---------------------------------------------------------------------------------------------
// CPU accounting: nanoseconds of CPU per component, sampled before and after each wrk run.

type Group = "haproxy" | "nginx" | "app" | "db" | "dockerd+containerd" | "docker-proxy" | "rest (wrk, kernel, other)";
const GROUPS: Group[] = ["haproxy", "nginx", "app", "db", "dockerd+containerd", "docker-proxy", "rest (wrk, kernel, other)"];
const TICK_NS = 1e9 / 100; // USER_HZ

/** Host processes of the engine (by command name) and total busy CPU of the machine. */
function hostCpu(): { daemons: number; proxy: number; busy: number } {
  let daemons = 0;
  let proxy = 0;
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ns = (Number(f[11]) + Number(f[12])) * TICK_NS; // utime + stime
    if (comm === "dockerd" || comm === "containerd" || comm.startsWith("containerd-shim")) daemons += ns;
    else if (comm === "docker-proxy") proxy += ns;
  }
  const cpu = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = (cpu.reduce((a, b) => a + b, 0) - cpu[3] - cpu[4]) * TICK_NS; // minus idle and iowait
  return { daemons, proxy, busy };
}

/** TCP sockets in TIME_WAIT in the network namespace of a process (the host's: this process). */
function timeWait(pid: number | "self" = "self"): number {
  let n = 0;
  for (const f of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) if (line.trim().split(/\s+/)[3] === "06") n++;
  }
  return n;
}

/**
 * The direct side opens a connection per request (gunicorn's sync worker closes each), and docker-proxy,
 * on the host, is the side that closes its connection to the container first: every request leaves a
 * host socket in TIME_WAIT for 60 s. Past ~15 000 of them docker-proxy's connect() spends its time
 * searching the ephemeral ports (measured: the direct side fell to a third). So every run waits, at most
 * 75 s, until the host has fewer than TW_CALM of them: the baseline always starts at its best.
 * (The chain's own TIME_WAIT, in the nginx containers, is the chain's cost and is not waited for.)
 */
const TW_CALM = 1000;
async function calmHost(): Promise<{ waitedMs: number; tw: number }> {
  const t0 = Date.now();
  let tw = timeWait();
  for (let i = 0; i < 150 && tw >= TW_CALM; i++) {
    await new Promise((r) => setTimeout(r, 500));
    tw = timeWait();
  }
  return { waitedMs: Date.now() - t0, tw };
}

async function containerCpu(names: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    names.map(async (n) => {
      const s = await call<{ cpu_stats?: { cpu_usage?: { total_usage?: number } } }>("GET", `/containers/${encodeURIComponent(n)}/stats?stream=false&one-shot=true`, undefined, {
        timeoutMs: 10_000,
      });
      out[n] = s.cpu_stats?.cpu_usage?.total_usage ?? 0;
    }),
  );
  return out;
}

interface Side {
  name: "chain" | "direct";
  url: string;
}
interface Measured {
  r: WrkResult;
  /** CPU microseconds per request, per group. */
  cpuUsPerReq: Record<Group, number>;
  /** Host TIME_WAIT sockets at the start (after calmHost) and the end of the run. */
  hostTw: [number, number];
  /** TIME_WAIT sockets in each nginx container's namespace at the end of the run. */
  nginxTw: number[];
}

async function measure(side: Side, groupOf: Map<string, Group>, opts: Required<WrkOptions>, nginxPids: number[]): Promise<Measured> {
  const names = [...groupOf.keys()];
  const calm = await calmHost();
  const c0 = await containerCpu(names);
  const h0 = hostCpu();
  const r = wrk(side.url, opts);
  const h1 = hostCpu();
  const c1 = await containerCpu(names);
  if (r.non2xx > 0 || r.socketErrors !== "none") throw new Error(`${side.name}: ${r.non2xx} non-2xx responses, socket errors: ${r.socketErrors}\n${r.raw}`);
  if (!(r.requests > 0)) throw new Error(`${side.name}: no requests\n${r.raw}`);
  const ns = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
  for (const n of names) ns[groupOf.get(n)!] += c1[n] - c0[n];
  ns["dockerd+containerd"] = h1.daemons - h0.daemons;
  ns["docker-proxy"] = h1.proxy - h0.proxy;
  const accounted = GROUPS.slice(0, -1).reduce((a, g) => a + ns[g], 0);
  ns["rest (wrk, kernel, other)"] = Math.max(0, h1.busy - h0.busy - accounted);
  const cpuUsPerReq = Object.fromEntries(GROUPS.map((g) => [g, ns[g] / 1000 / r.requests])) as Record<Group, number>;
  return { r, cpuUsPerReq, hostTw: [calm.tw, timeWait()], nginxTw: nginxPids.map((p) => timeWait(p)) };
}

const fmtSide = (m: Measured) => `${m.r.rps.toFixed(1).padStart(8)} req/s (p50 ${m.r.p50ms.toFixed(2)} ms, p99 ${m.r.p99ms.toFixed(2)} ms, ${m.r.requests} requests)`;
const fmtTw = (m: Measured) => `TIME_WAIT host ${m.hostTw[0]} -> ${m.hostTw[1]}, nginx ${m.nginxTw.join("/")}`;
const fmtCpu = (m: Measured) =>
  GROUPS.map((g) => `${g} ${m.cpuUsPerReq[g].toFixed(0)}`).join(", ") + `; total ${GROUPS.reduce((a, g) => a + m.cpuUsPerReq[g], 0).toFixed(0)}`;

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error("run as root (the e2e engine needs it)");
  const session = newSession();
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      if (session.engineStarted) await removeDirectApp().catch((e) => log(`removing ${DIRECT_APP.name}: ${e}`));
      await closeSession(session, log);
    })());
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const cluster = buildSmallSiteStack(Testing.app()).cluster();
    const specs = cluster.plan.containers;
    const spec = (key: string) => specs.find((c) => c.key === key) ?? (() => { throw new Error(`no container ${key} in the model`); })();
    log(`load per side and round: wrk -t${LOAD.threads} -c${LOAD.connections} -d${LOAD.durationS}s (keep-alive), GET /ping; ${ROUNDS} rounds; engine ${ENGINE_SOCKET}`);
    await openSession(session, "small-site", log);
    await removeDirectApp();
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    log(`applied ${session.handle.containers.length} containers in ${session.handle.applyMs} ms`);
    const health = await waitHealthy(session.handle, 120_000);
    if (!health.ok) throw new Error(`not healthy after ${health.elapsedMs} ms:\n${health.details}`);
    log(`healthy after ${(health.elapsedMs / 1000).toFixed(1)} s`);

    await startDirectApp(spec("web-1-app").name, cluster.plan.network.name, "bench/proxy-chain.ts");
    for (const port of [DIRECT_APP.port, LB_PORT]) {
      const p = await settled(port, "/ping", 200, 30);
      if (p.status !== 200) throw new Error(`127.0.0.1:${port}/ping: ${p.status} ${p.body}`);
    }

    // Which component each container's CPU counts for.
    const groupOf = new Map<string, Group>();
    for (const c of session.handle.containers) {
      const role = (await inspect(c.name)).Config.Labels["webstack.role"];
      groupOf.set(c.name, role === "haproxy" ? "haproxy" : role === "nginx" ? "nginx" : role === "gunicorn" || role === "uwsgi" ? "app" : "db");
    }
    groupOf.set(DIRECT_APP.name, "app");
    const nginxPids: number[] = [];
    for (const [n, g] of groupOf) if (g === "nginx") nginxPids.push(((await inspect(n)).State as unknown as { Pid: number }).Pid);

    const chain: Side = { name: "chain", url: `http://127.0.0.1:${LB_PORT}/ping` };
    const direct: Side = { name: "direct", url: `http://127.0.0.1:${DIRECT_APP.port}/ping` };
    // Warm-up (not counted): the app processes import lazily, connections and caches settle.
    for (const s of [chain, direct]) await measure(s, groupOf, WARMUP, nginxPids);

    const rounds: Array<{ chain: Measured; direct: Measured; ratio: number }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? [chain, direct] : [direct, chain];
      const got: Partial<Record<Side["name"], Measured>> = {};
      for (const s of order) got[s.name] = await measure(s, groupOf, LOAD, nginxPids);
      const ratio = got.chain!.r.rps / got.direct!.r.rps;
      rounds.push({ chain: got.chain!, direct: got.direct!, ratio });
      log(`round ${i + 1}/${ROUNDS} (${order[0].name} first): chain ${fmtSide(got.chain!)} | direct ${fmtSide(got.direct!)} | ratio ${ratio.toFixed(3)}`);
      log(`  chain:  cpu us/request ${fmtCpu(got.chain!)}; ${fmtTw(got.chain!)}`);
      log(`  direct: cpu us/request ${fmtCpu(got.direct!)}; ${fmtTw(got.direct!)}`);
    }

    const med = (f: (x: (typeof rounds)[number]) => number) => median(rounds.map(f));
    const ratio = med((x) => x.ratio);
    console.log("");
    console.log(`RESULT rounds: ${ROUNDS}, wrk -t${LOAD.threads} -c${LOAD.connections} -d${LOAD.durationS}s GET /ping, chain/direct alternating first`);
    console.log(`RESULT chain median: ${med((x) => x.chain.r.rps).toFixed(1)} req/s (p50 ${med((x) => x.chain.r.p50ms).toFixed(2)} ms, p99 ${med((x) => x.chain.r.p99ms).toFixed(2)} ms)`);
    console.log(`RESULT direct median: ${med((x) => x.direct.r.rps).toFixed(1)} req/s (p50 ${med((x) => x.direct.r.p50ms).toFixed(2)} ms, p99 ${med((x) => x.direct.r.p99ms).toFixed(2)} ms)`);
    console.log(`RESULT ratios: ${rounds.map((x) => x.ratio.toFixed(3)).join(" ")}`);
    console.log(`RESULT median ratio chain/direct: ${ratio.toFixed(3)} (target >= ${TARGET}: ${ratio >= TARGET ? "met" : "NOT met"})`);
    for (const side of ["chain", "direct"] as const) {
      const m = Object.fromEntries(GROUPS.map((g) => [g, med((x) => x[side].cpuUsPerReq[g])])) as Record<Group, number>;
      console.log(`RESULT median cpu us/request ${side}: ${GROUPS.map((g) => `${g} ${m[g].toFixed(0)}`).join(", ")}`);
    }
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`[bench proxy] FAILED: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  },
);
