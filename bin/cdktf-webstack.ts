#!/usr/bin/env node
/**
 * cdktf-webstack capacity [stack-file]
 *   Runs the app (the stack file given, or cdktf.json's "app" command) without writing its output,
 *   and answers for each WebStack in it: how many more nodes or processes each tier takes before a
 *   budget rule fails, which rule stops it, and the max_connections and memory the database needs.
 *   Works on a stack that fails its budget too.
 *
 * cdktf-webstack measure [stack-file] --tier <path or id> [--out file] [--mix "/ping=1,/=3"]
 *                        [--step-seconds 5] [--max-connections n]
 *   The talk's "Measure!" step on a Docker engine (DOCKER_HOST): deploys one node of the tier with
 *   its real rendered files and the services it needs, raises the load with wrk until the latency
 *   objective or an error stops it, removes everything, and writes the measurement file that the
 *   tier's `measurement` prop reads.
 *
 * cdktf-webstack top [stack-file] [--stack id] [--json]
 *   Reads the running cluster of each WebStack in the app (docker exec into its own containers, on
 *   DOCKER_HOST, else the stack's dockerHost) and prints, per budget rule, the live figure beside the
 *   model's: database connections per tier (pg_stat_activity by application_name) against each
 *   tier's share and the usable slots, Redis and RabbitMQ clients per tier, HAProxy sessions per
 *   server against its maxconn, and each container's memory against its limit.
 *
 * Plain node runs this file; a TypeScript stack file runs through what the project uses
 * (cdktf.json's app runner, else ts-node, else tsx).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderMeasurementFile } from "../lib/core/measurement";
import type { MeasureSubset } from "../lib/core/measure-subset";
import { CAPACITY_OUT_ENV, MEASURE_OUT_ENV, MEASURE_TIER_ENV, TOP_OUT_ENV } from "../lib/docker/io";
import { measureTier } from "../lib/measure/run";
import { compareLive } from "../lib/core/top/compare";
import type { TopPlan } from "../lib/core/top/plan";
import { renderTop, renderTopJson } from "../lib/core/top/render";
import { readLive, TopError } from "../lib/live/read";

function fail(message: string, code = 2): never {
  process.stderr.write(`cdktf-webstack: ${message}\n`);
  process.exit(code);
}

function usage(code: number): never {
  (code === 0 ? process.stdout : process.stderr).write(
    "usage: cdktf-webstack capacity [stack-file.ts|stack-file.js]\n" +
      '       cdktf-webstack measure [stack-file] --tier <path or id> [--out file] [--mix "/ping=1,/=3"] [--step-seconds 5] [--max-connections n]\n' +
      "       cdktf-webstack top [stack-file] [--stack id] [--json]\n",
  );
  process.exit(code);
}

/** cdktf.json's app command in the current folder, if there is one. */
function cdktfApp(): string | undefined {
  const config = path.resolve("cdktf.json");
  return fs.existsSync(config) ? (JSON.parse(fs.readFileSync(config, "utf8")) as { app?: string }).app : undefined;
}

const resolvable = (name: string) => {
  try {
    require.resolve(name, { paths: [process.cwd()] });
    return true;
  } catch {
    return false;
  }
};

/** The command that runs `file`: node for JavaScript; for TypeScript the project's own runner. */
function commandFor(file: string): string {
  const quoted = JSON.stringify(file);
  if (/\.(c|m)?js$/.test(file)) return `${JSON.stringify(process.execPath)} ${quoted}`;
  const runner = /^(npx\s+(--no-install\s+)?(ts-node|tsx))\b/.exec(cdktfApp() ?? "")?.[1];
  if (runner) return `${runner} ${quoted}`;
  if (resolvable("ts-node")) return `npx --no-install ts-node ${quoted}`;
  if (resolvable("tsx")) return `npx --no-install tsx ${quoted}`;
  return fail(`${file} is TypeScript, and this project has neither ts-node nor tsx (npm install -D ts-node), nor a cdktf.json app that names one`);
}

/** Runs the app with `env` and returns the JSON lines it appended to the file named by `outEnv`. */
function runApp<T>(file: string | undefined, outEnv: string, env: Record<string, string>): T[] {
  const app = file ? commandFor(file) : (cdktfApp() ?? fail("no stack file given and no cdktf.json with an app here"));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-cli-"));
  const out = path.join(work, "answers.jsonl");
  try {
    const run = spawnSync(app, {
      shell: true,
      encoding: "utf8",
      env: { ...process.env, ...env, [outEnv]: out, CDKTF_OUTDIR: path.join(work, "out"), CHECKPOINT_DISABLE: "1" },
    });
    if (!fs.existsSync(out)) fail(`${run.stderr}${run.stdout}\nthe app defined no WebStack${env[MEASURE_TIER_ENV] ? ` with a web tier ${env[MEASURE_TIER_ENV]}` : ""} (command: ${app})`, 1);
    return fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as T);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** `--name value` options after the command; anything else is the stack file. */
function parseArgs(args: readonly string[]): { file?: string; options: Map<string, string> } {
  const options = new Map<string, string>();
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith("--")) {
      if (i + 1 >= args.length) fail(`${args[i]} needs a value`);
      options.set(args[i].slice(2), args[++i]);
    } else if (file === undefined) file = args[i];
    else usage(2);
  }
  return { file, options };
}

function positive(options: Map<string, string>, name: string, fallback: number): number {
  const v = options.get(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a whole number of at least 1, got '${v}'`);
  return n;
}

function measureCommand(args: readonly string[]): void {
  const { file, options } = parseArgs(args);
  for (const k of options.keys()) if (!["tier", "out", "mix", "step-seconds", "max-connections"].includes(k)) fail(`unknown option --${k}`);
  const tier = options.get("tier") ?? fail("--tier is required: the web tier's construct path or id, e.g. --tier web");
  const mix = (options.get("mix") ?? "").split(",").filter(Boolean).map((entry) => {
    const m = /^(\/\S*)=(\d+)$/.exec(entry); // the last '=' separates the weight: a path may hold a query
    if (!m || Number(m[2]) < 1) fail(`--mix: '${entry}' is not path=weight, e.g. /ping=1,/=3`);
    return { path: m[1], weight: Number(m[2]) };
  });
  const found = runApp<{ stack: string; subset: MeasureSubset }>(file, MEASURE_OUT_ENV, { [MEASURE_TIER_ENV]: tier });
  if (found.length > 1) fail(`several stacks have a web tier ${tier} (${found.map((f) => f.subset.tier).join(", ")}): give its construct path`);
  const subset = found[0].subset;
  const result = measureTier({
    subset,
    mix,
    stepSeconds: positive(options, "step-seconds", 5),
    maxConnections: positive(options, "max-connections", subset.processes * subset.threads * 4),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const out = options.get("out") ?? path.join("measurements", `${subset.tier.replace(/\//g, "-")}.json`);
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, renderMeasurementFile(result));
  process.stdout.write(`wrote ${out}; give it to the tier: new WebTier(..., { measurement: ${JSON.stringify(out)}, targetRps: ... })\n`);
}

function topCommand(args: readonly string[]): void {
  const json = args.includes("--json");
  const { file, options } = parseArgs(args.filter((a) => a !== "--json"));
  for (const k of options.keys()) if (k !== "stack") fail(`unknown option --${k}`);
  const wanted = options.get("stack");
  const all = runApp<{ stack: string; plan: TopPlan }>(file, TOP_OUT_ENV, {});
  const named = wanted === undefined ? all : all.filter((s) => s.stack === wanted);
  if (named.length === 0) fail(`no stack ${wanted} in the app (it has: ${all.map((s) => s.stack).join(", ")})`);
  // Without --stack, a swarm stack beside one-engine stacks (examples/invenio has both) is skipped and
  // said so; named with --stack, or alone, it is refused with readLive's message.
  const stacks = wanted === undefined && named.some((s) => !s.plan.swarm) ? named.filter((s) => !s.plan.swarm) : named;
  for (const s of named.filter((x) => !stacks.includes(x))) process.stderr.write(`top: skipped ${s.stack}: it targets a Docker Swarm, which top does not read yet\n`);
  try {
    const reports = stacks.map((s) => compareLive(s.plan, readLive(s.plan)));
    process.stdout.write(json ? renderTopJson(reports) : reports.map(renderTop).join("\n"));
  } catch (e) {
    if (e instanceof TopError) fail(e.message, 1);
    throw e;
  }
}

const [command, ...args] = process.argv.slice(2);
if (command === "--help" || command === "-h") usage(0);
if (command === "capacity") {
  if (args.length > 1) usage(2);
  const answers = runApp<{ stack: string; answer: string }>(args[0], CAPACITY_OUT_ENV, {});
  for (const a of answers) process.stdout.write(`${a.answer}\n`);
} else if (command === "measure") {
  try {
    measureCommand(args);
  } catch (e) {
    fail((e as Error).message, 1);
  }
} else if (command === "top") {
  topCommand(args);
} else usage(2);
