#!/usr/bin/env node
/**
 * cdktf-webstack capacity [stack-file]
 *
 * Runs the app (the stack file given, or cdktf.json's "app" command) without writing its output,
 * and answers for each WebStack in it: how many more nodes or processes each tier takes before a
 * budget rule fails, which rule stops it, and the max_connections and memory the database needs.
 * Works on a stack that fails its budget too. Plain node runs this file; a TypeScript stack file
 * runs through what the project uses (cdktf.json's app runner, else ts-node, else tsx).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CAPACITY_OUT_ENV } from "../lib/docker/io";

function fail(message: string, code = 2): never {
  process.stderr.write(`cdktf-webstack: ${message}\n`);
  process.exit(code);
}

function usage(code: number): never {
  (code === 0 ? process.stdout : process.stderr).write("usage: cdktf-webstack capacity [stack-file.ts|stack-file.js]\n");
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

const [command, file] = process.argv.slice(2);
if (command === "--help" || command === "-h") usage(0);
if (command !== "capacity") usage(2);

const app = file ? commandFor(file) : (cdktfApp() ?? fail("no stack file given and no cdktf.json with an app here"));
const work = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-capacity-"));
const out = path.join(work, "answers.jsonl");
try {
  const run = spawnSync(app, {
    shell: true,
    encoding: "utf8",
    env: { ...process.env, [CAPACITY_OUT_ENV]: out, CDKTF_OUTDIR: path.join(work, "out"), CHECKPOINT_DISABLE: "1" },
  });
  if (!fs.existsSync(out)) fail(`${run.stderr}${run.stdout}\nthe app defined no WebStack (command: ${app})`, 1);
  const answers = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { stack: string; answer: string });
  for (const a of answers) process.stdout.write(`${a.answer}\n`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
