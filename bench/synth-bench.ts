/**
 * Synth benchmark: the default example and generated topologies of 1, 10, 100 and 1,000 web
 * nodes, each beside a hand-written cdktf stack of the same Docker resources (same network,
 * volumes, images and containers with the same uploaded files), in one run. Prints median wall
 * times of a first synth and of a re-synth over paired rounds, the ratios, and each side's peak
 * resident memory.
 * Run: npm run bench
 */
import { App, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Image } from "@cdktf/provider-docker/lib/image";
import { Network } from "@cdktf/provider-docker/lib/network";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { Volume } from "@cdktf/provider-docker/lib/volume";
import { Database, LoadBalancer, WebStack, WebTier, type ClusterPlan } from "../lib";
import { buildInvenioStack, EXAMPLE_APP_IMAGE } from "../examples/invenio/stack";

process.env.CHECKPOINT_DISABLE = "1";
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/**
 * Timed pairs (first, again) per process after its warm-up; the process reports their medians. One
 * pair alone times the process' second and third synths, while V8 is still compiling the hot
 * functions on its background threads: that sample says more about when the JIT finishes than about
 * the synth. `BENCH_PAIRS=1` gives the old single pair.
 */
const PAIRS = Number(process.env.BENCH_PAIRS ?? 3);
/** `BENCH_CASES=0,3` runs only those rows (by index), for a quick look at one topology. */
const ONLY = process.env.BENCH_CASES?.split(",").map(Number);

/** A tier holds at most 100 nodes here (200 containers fit one address block of 245). */
const NODES_PER_TIER = 100;

function generated(scope: Construct, id: string, nodes: number): WebStack {
  const stack = new WebStack(scope, id);
  const db = new Database(stack, "db", { maxConnections: Math.max(100, nodes * 2 + 50), memoryMiB: Math.max(8192, nodes * 24) });
  const tiers = Array.from({ length: Math.ceil(nodes / NODES_PER_TIER) }, (_, i) =>
    new WebTier(stack, i === 0 ? "web" : `web${i}`, {
      nodes: Math.min(NODES_PER_TIER, nodes - i * NODES_PER_TIER),
      processes: 2,
      threads: 2,
      poolSize: 1,
      image: EXAMPLE_APP_IMAGE,
      wsgiModule: "webstack_example.wsgi:application",
      database: db,
    }),
  );
  new LoadBalancer(stack, "lb", {
    defaultTarget: tiers[0],
    routes: tiers.slice(1).map((target, i) => ({ pathPrefix: `/shard${i + 1}`, target })),
  });
  return stack;
}

/** The same resources written by hand from a plan: what a user without the library would write. */
function handWritten(scope: Construct, id: string, plan: ClusterPlan): void {
  const stack = new TerraformStack(scope, id);
  new DockerProvider(stack, "docker", {});
  const network = new Network(stack, "network", { name: plan.network.name, ipamConfig: [{ subnet: plan.network.subnet, gateway: plan.network.gateway }] });
  for (const v of plan.volumes) new Volume(stack, `volume-${v.key}`, { name: v.name });
  const images = new Map<string, Image>();
  for (const c of plan.containers) {
    if (!images.has(c.image)) images.set(c.image, new Image(stack, `image-${images.size}`, { name: c.image, keepLocally: true }));
    new Container(stack, `container-${c.key}`, {
      name: c.name,
      image: images.get(c.image)!.imageId,
      entrypoint: [c.command[0]],
      command: c.command.slice(1),
      env: Object.entries(c.env).map(([k, v]) => `${k}=${v}`),
      networksAdvanced: [{ name: network.name, ipv4Address: c.address }],
      memory: c.memoryMiB,
      restart: "unless-stopped",
      healthcheck: { test: [...c.healthcheck.test], interval: `${c.healthcheck.intervalSeconds}s` },
      upload: c.files.map((f) => ({ file: f.path, content: f.content, executable: f.executable })),
      volumes: c.mounts.map((m) => ({ volumeName: `${plan.network.name}-${m.volume}`, containerPath: m.path })),
    });
  }
}

/**
 * One synth of `build` into `outdir`: wall time, and the CPU time (user + system) the process spent
 * on it, in ms. The CPU time moves less than the wall time when other jobs share the machine.
 */
function timeSynth(outdir: string, build: (app: App) => void): { wall: number; cpu: number } {
  // The previous synths' files still being written back to disk would slow this one's file
  // creations (ext4's journal): each timed synth starts with nothing dirty. Not timed.
  execFileSync("sync");
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const app = new App({ outdir });
  build(app);
  app.synth();
  const cpu = process.cpuUsage(cpu0);
  return { wall: performance.now() - start, cpu: (cpu.user + cpu.system) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cases: { name: string; build: (scope: Construct, id: string) => WebStack }[] = [
  { name: "invenio example", build: (s, id) => buildInvenioStack(s, id) },
  { name: "1 web node", build: (s, id) => generated(s, id, 1) },
  { name: "10 web nodes", build: (s, id) => generated(s, id, 10) },
  { name: "100 web nodes", build: (s, id) => generated(s, id, 100) },
  { name: "1,000 web nodes", build: (s, id) => generated(s, id, 1000) },
];

interface SideResult {
  readonly containers: number;
  /** Into an empty folder each time. */
  readonly firstMs: number;
  /** Into the folder of the previous synth, as `cdktf synth` does with cdktf.out. */
  readonly againMs: number;
  /** CPU time of the first synth (user + system). */
  readonly firstCpuMs: number;
  readonly againCpuMs: number;
  readonly peakRssMiB: number;
}

/** Runs one side of one case in this process (a child of the main run, so its peak memory is its own): a warm-up, then `runs` timed pairs, their medians. */
function runSide(caseIndex: number, side: "ours" | "hand", runs: number): SideResult {
  const c = cases[caseIndex];
  const plan = c.build(new App({ outdir: os.tmpdir() }), "plan").cluster().plan;
  const build = side === "ours" ? (app: App) => void c.build(app, "stack") : (app: App) => handWritten(app, "stack", plan);
  const kept = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-bench-"));
  timeSynth(kept, build); // warm-up, and the folder the re-synths find
  const first: { wall: number; cpu: number }[] = [];
  const again: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-bench-"));
    first.push(timeSynth(fresh, build));
    fs.rmSync(fresh, { recursive: true, force: true });
    again.push(timeSynth(kept, build));
  }
  fs.rmSync(kept, { recursive: true, force: true });
  const wall = (xs: { wall: number }[]) => median(xs.map((x) => x.wall));
  const cpu = (xs: { cpu: number }[]) => median(xs.map((x) => x.cpu));
  return { containers: plan.containers.length, firstMs: wall(first), againMs: wall(again), firstCpuMs: cpu(first), againCpuMs: cpu(again), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
}

if (process.argv[2] === "--side") {
  process.stdout.write(JSON.stringify(runSide(Number(process.argv[3]), process.argv[4] as "ours" | "hand", PAIRS)));
} else {
  const child = (i: number, s: string): SideResult =>
    JSON.parse(execFileSync(process.execPath, [...process.execArgv, __filename, "--side", String(i), s], { encoding: "utf8", maxBuffer: 1 << 20 }));
  /**
   * Paired rounds: each round runs our side, then the hand-written side, each in a fresh process, so
   * a busy spell of the machine (disk writeback, another job) lands on both sides alike; the cells
   * are the medians of the rounds.
   */
  const side = (i: number): { ours: SideResult; hand: SideResult } => {
    const rounds = Array.from({ length: RUNS }, () => ({ ours: child(i, "ours"), hand: child(i, "hand") }));
    const of = (k: "ours" | "hand"): SideResult => ({
      containers: rounds[0][k].containers,
      firstMs: median(rounds.map((r) => r[k].firstMs)),
      againMs: median(rounds.map((r) => r[k].againMs)),
      firstCpuMs: median(rounds.map((r) => r[k].firstCpuMs)),
      againCpuMs: median(rounds.map((r) => r[k].againCpuMs)),
      peakRssMiB: Math.max(...rounds.map((r) => r[k].peakRssMiB)),
    });
    return { ours: of("ours"), hand: of("hand") };
  };
  console.log(`synth benchmark, median of ${RUNS} paired rounds per cell, each side in its own process per round (a warm-up synth, then the median of ${PAIRS} timed pairs; node ${process.version}, ${os.cpus().length} cores)`);
  console.log("first: into an empty output folder; again: into the folder of the previous synth, as `cdktf synth` does with cdktf.out");
  console.log("| topology | containers | first ms (ours / hand) | ratio | again ms (ours / hand) | ratio | first CPU ms (ours / hand) | ratio | again CPU ms | ratio | peak RSS MiB (ours / hand) |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  cases.forEach((c, i) => {
    if (ONLY && !ONLY.includes(i)) return;
    const { ours, hand } = side(i);
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `| ${c.name} | ${ours.containers} | ${ours.firstMs.toFixed(0)} / ${hand.firstMs.toFixed(0)} | ${ratio(ours.firstMs, hand.firstMs)} | ` +
        `${ours.againMs.toFixed(0)} / ${hand.againMs.toFixed(0)} | ${ratio(ours.againMs, hand.againMs)} | ` +
        `${ours.firstCpuMs.toFixed(0)} / ${hand.firstCpuMs.toFixed(0)} | ${ratio(ours.firstCpuMs, hand.firstCpuMs)} | ` +
        `${ours.againCpuMs.toFixed(0)} / ${hand.againCpuMs.toFixed(0)} | ${ratio(ours.againCpuMs, hand.againCpuMs)} | ${ours.peakRssMiB} / ${hand.peakRssMiB} |`,
    );
  });
}
