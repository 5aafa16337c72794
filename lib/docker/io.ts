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

/** Environment variables of `cdktf-webstack measure`: the file each stack appends the tier's subset to, and the tier. */
export const MEASURE_OUT_ENV = "CDKTF_WEBSTACK_MEASURE_OUT";
export const MEASURE_TIER_ENV = "CDKTF_WEBSTACK_MEASURE_TIER";

/** When the measure command runs the app, a stack with the tier asked for appends what to deploy (one JSON line). */
export function exportMeasureSubsetIfAsked(stack: string, subset: (tier: string) => unknown): void {
  const file = process.env[MEASURE_OUT_ENV];
  const tier = process.env[MEASURE_TIER_ENV];
  if (!file || !tier) return;
  const found = subset(tier);
  if (found !== undefined) fs.appendFileSync(file, `${JSON.stringify({ stack, subset: found })}\n`);
}

/** Environment variable naming the file `cdktf-webstack top` collects each stack's top plan in. */
export const TOP_OUT_ENV = "CDKTF_WEBSTACK_TOP_OUT";

/** When the top command runs the app, each stack appends what to read on its running cluster and the model's figures (one JSON line). */
export function exportTopPlanIfAsked(stack: string, plan: () => unknown): void {
  const file = process.env[TOP_OUT_ENV];
  if (file) fs.appendFileSync(file, `${JSON.stringify({ stack, plan: plan() })}\n`);
}

export function readTextFile(file: string): string {
  return fs.readFileSync(file, "utf8");
}

/** Removes every file under `dir` that is not `keep`, and the folders left empty. */
function prune(dir: string, keep: ReadonlySet<string>): void {
  if (!fs.existsSync(dir)) return;
  const entries = fs.readdirSync(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    const full = path.join(e.parentPath ?? e.path, e.name);
    if (!e.isDirectory() && !keep.has(path.relative(dir, full))) fs.rmSync(full, { force: true });
  }
  const folders = entries.filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath ?? e.path, e.name));
  for (const folder of folders.sort((a, b) => b.length - a.length)) {
    if (fs.readdirSync(folder).length === 0) fs.rmdirSync(folder);
  }
}

/** The file's content and mode if it exists, for a re-synth that finds it unchanged. */
function existing(file: string): { content: string; mode: number } | undefined {
  try {
    return { content: fs.readFileSync(file, "utf8"), mode: fs.statSync(file).mode & 0o777 };
  } catch {
    return undefined;
  }
}

/**
 * Where each container's files go under configs/: `<container key>.<file name>`, side by side, no
 * folder per container: creating folders was a third of a first synth's file writing (1,000 web
 * nodes: 2,002 folders), and the path inside the container is in cdk.tf.json's `upload`. A
 * container's file names are unique.
 */
function configFileNames(plan: ClusterPlan): Map<string, { content: string; mode: number }> {
  const wanted = new Map<string, { content: string; mode: number }>();
  for (const c of plan.containers) {
    for (const f of c.files) {
      const rel = `${c.key}.${path.posix.basename(f.path)}`;
      if (wanted.has(rel)) throw new Error(`internal error: container ${c.key} has two files named ${path.posix.basename(f.path)}`);
      wanted.set(rel, { content: f.content, mode: f.executable ? 0o755 : 0o644 });
    }
  }
  return wanted;
}

/**
 * Writes each container's files as `<stackDir>/configs/<container key>.<file name>`, and the reports
 * beside cdk.tf.json. No file of an earlier synth survives unless it is still wanted (nor a folder of
 * the layout before 0.2, one per container), and one that already holds what is wanted is left alone:
 * a re-synth (cdktf synth keeps cdktf.out) writes only what changed.
 */
export function writeRenderedFiles(stackDir: string, plan: ClusterPlan, extra: Readonly<Record<string, string>>): void {
  const dir = path.join(stackDir, "configs");
  const wanted = configFileNames(plan);
  prune(dir, new Set(wanted.keys()));
  // A new folder's files need no read first.
  const existed = fs.existsSync(dir);
  if (!existed && wanted.size > 0) fs.mkdirSync(dir, { recursive: true });
  for (const [rel, { content, mode }] of wanted) {
    const target = path.join(dir, rel);
    const found = existed ? existing(target) : undefined;
    if (found?.content === content) {
      if (found.mode !== mode) fs.chmodSync(target, mode);
      continue;
    }
    fs.writeFileSync(target, content, { mode });
    if (found && found.mode !== mode) fs.chmodSync(target, mode);
  }
  for (const [name, content] of Object.entries(extra)) {
    fs.mkdirSync(stackDir, { recursive: true });
    fs.writeFileSync(path.join(stackDir, name), content);
  }
}
