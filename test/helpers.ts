import { App, Testing } from "cdktf";
import * as fs from "node:fs";
import * as path from "node:path";
import { WebStack, type WebStackProps } from "../lib";
import { MEASUREMENT_FORMAT, renderMeasurementFile } from "../lib/core/measurement";
import { EXAMPLE_APP_IMAGE } from "../examples/invenio/stack";

export const IMAGE = EXAMPLE_APP_IMAGE;
export const WSGI = "webstack_example.wsgi:application";

export function newStack(props: WebStackProps = {}, id = "test"): WebStack {
  return new WebStack(Testing.app(), id, props);
}

/** Synthesizes with validations and returns the parsed cdk.tf.json. */
export function synthJson(stack: WebStack): any {
  return JSON.parse(Testing.synth(stack, true));
}

/** Every file under a directory, as relative path -> content, in sorted order. */
export function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

const outdirs: string[] = [];
// Registered in every test file that imports this module: its synth folders go when the file ends.
afterAll(() => outdirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Runs a whole App synth into a fresh folder (removed after the test file) and returns the stack's output folder. */
export function synthApp(build: (app: App) => WebStack): { dir: string; stack: WebStack } {
  const outdir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "webstack-test-"));
  outdirs.push(outdir);
  const app = new App({ outdir });
  const stack = build(app);
  app.synth();
  return { dir: path.join(outdir, "stacks", stack.node.id), stack };
}

export function fileOf(stack: WebStack, containerKey: string, filePath: string): string {
  const c = stack.cluster().plan.containers.find((x) => x.key === containerKey);
  if (!c) throw new Error(`no container ${containerKey}`);
  const f = c.files.find((x) => x.path === filePath);
  if (!f) throw new Error(`no file ${filePath} in ${containerKey}: ${c.files.map((x) => x.path).join(", ")}`);
  return f.content;
}

/**
 * Writes a measurement file (the format `cdktf-webstack measure` writes) for a tier into a
 * temporary folder removed after the test file. `steps` are [connections, rps, p99 ms, errors, rss MiB].
 */
export function measurementFile(
  tier: string,
  steps: readonly (readonly [number, number, number, number, number])[],
  shape: { processes?: number; threads?: number; server?: "uwsgi" | "gunicorn"; objectiveMs?: number } = {},
): string {
  const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "webstack-measure-"));
  outdirs.push(dir);
  const file = path.join(dir, "web.json");
  fs.writeFileSync(
    file,
    renderMeasurementFile({
      format: MEASUREMENT_FORMAT,
      tier,
      measuredAt: "2026-11-30T03:00:00Z",
      engine: "Docker 20.10.24, 2 CPUs",
      image: IMAGE,
      imageId: "sha256:0123456789ab",
      server: shape.server ?? "uwsgi",
      latencyObjectiveMs: shape.objectiveMs ?? 300,
      requestMix: [{ path: "/ping", weight: 1 }],
      runs: [
        {
          processes: shape.processes ?? 8,
          threads: shape.threads ?? 2,
          steps: steps.map(([connections, rps, p99Ms, errors, rssMiBPerProcess]) => ({ connections, requests: Math.round(rps * 5), errors, rps, p50Ms: p99Ms / 3, p99Ms, rssMiBPerProcess })),
        },
      ],
    }),
  );
  return file;
}
