/**
 * All file-system I/O of the library: reading a certificate named in props, and writing the
 * rendered configs and the capacity report under the synth output.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { ClusterPlan } from "../core/model";

/** Environment variable naming the file `cdktf-webstack capacity` collects the stacks' answers in. */
export const CAPACITY_OUT_ENV = "CDKTF_WEBSTACK_CAPACITY_OUT";

/**
 * When the capacity command runs the app, each stack appends its answer (one JSON line), computed
 * in the app itself so the stack's own rule packs count. Only then is the answer computed.
 */
export function exportCapacityIfAsked(stack: string, answer: () => string): void {
  const file = process.env[CAPACITY_OUT_ENV];
  if (file) fs.appendFileSync(file, `${JSON.stringify({ stack, answer: answer() })}\n`);
}

export function readTextFile(file: string): string {
  return fs.readFileSync(file, "utf8");
}

/**
 * Writes each container's files under `<stackDir>/configs/<container key>/<path in container>`, and
 * the reports beside cdk.tf.json. The configs folder is replaced whole, so no stale file of an
 * earlier synth survives.
 */
export function writeRenderedFiles(stackDir: string, plan: ClusterPlan, extra: Readonly<Record<string, string>>): void {
  const dir = path.join(stackDir, "configs");
  fs.rmSync(dir, { recursive: true, force: true });
  for (const c of plan.containers) {
    for (const f of c.files) {
      const target = path.join(dir, c.key, f.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, f.content, { mode: f.executable ? 0o755 : 0o644 });
    }
  }
  for (const [name, content] of Object.entries(extra)) {
    fs.mkdirSync(stackDir, { recursive: true });
    fs.writeFileSync(path.join(stackDir, name), content);
  }
}
