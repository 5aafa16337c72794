/**
 * Synth benchmark: the default example and generated topologies of 1, 10 and 100 web nodes,
 * each beside a hand-written cdktf stack of the same Docker resources (same network, volumes,
 * images and containers with the same uploaded files), in one run. Prints median wall times and
 * the ratio. Run: npm run bench
 */
import { App, TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
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

function generated(scope: Construct, id: string, nodes: number): WebStack {
  const stack = new WebStack(scope, id);
  const db = new Database(stack, "db", { maxConnections: Math.max(100, nodes * 2 + 50), memoryMiB: 8192 });
  const web = new WebTier(stack, "web", { nodes, processes: 2, threads: 2, poolSize: 1, image: EXAMPLE_APP_IMAGE, wsgiModule: "webstack_example.wsgi:application", database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
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

function timeSynth(build: (app: App) => void): number {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-bench-"));
  const start = performance.now();
  const app = new App({ outdir });
  build(app);
  app.synth();
  const ms = performance.now() - start;
  fs.rmSync(outdir, { recursive: true, force: true });
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cases: { name: string; build: (scope: Construct, id: string) => WebStack }[] = [
  { name: "invenio example", build: (s, id) => buildInvenioStack(s, id) },
  { name: "1 web node", build: (s, id) => generated(s, id, 1) },
  { name: "10 web nodes", build: (s, id) => generated(s, id, 10) },
  { name: "100 web nodes", build: (s, id) => generated(s, id, 100) },
];

console.log(`synth benchmark, median of ${RUNS} runs (node ${process.version}, ${os.cpus().length} cores)`);
console.log("| topology | containers | cdktf-webstack ms | hand-written cdktf ms | ratio |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const c of cases) {
  const plan = c.build(new App({ outdir: os.tmpdir() }), "plan").cluster().plan;
  timeSynth((app) => c.build(app, "warm"));
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    ours.push(timeSynth((app) => c.build(app, "stack")));
    theirs.push(timeSynth((app) => handWritten(app, "stack", plan)));
  }
  const a = median(ours);
  const b = median(theirs);
  console.log(`| ${c.name} | ${plan.containers.length} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(a / b).toFixed(2)} |`);
}
