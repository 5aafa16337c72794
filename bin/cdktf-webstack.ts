#!/usr/bin/env -S npx --no-install tsx
/**
 * cdktf-webstack capacity [stack-file]
 *
 * Runs the app (the stack file given, or cdktf.json's "app" command) without writing its output,
 * and answers for each WebStack in it: how many more nodes or processes each tier takes before a
 * budget rule fails, which rule stops it, and the max_connections and memory the database needs.
 * Works on a stack that fails its budget too.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CAPACITY_OUT_ENV } from "../lib/docker/io";

function usage(code: number): never {
  (code === 0 ? process.stdout : process.stderr).write("usage: cdktf-webstack capacity [stack-file.ts]\n");
  process.exit(code);
}

const [command, file] = process.argv.slice(2);
if (command === "--help" || command === "-h") usage(0);
if (command !== "capacity") usage(2);

let app: string;
if (file) {
  app = `npx --no-install tsx ${JSON.stringify(file)}`;
} else {
  const config = path.resolve("cdktf.json");
  if (!fs.existsSync(config)) {
    process.stderr.write("no stack file given and no cdktf.json here\n");
    process.exit(2);
  }
  app = JSON.parse(fs.readFileSync(config, "utf8")).app;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-capacity-"));
const out = path.join(work, "answers.jsonl");
try {
  const run = spawnSync(app, {
    shell: true,
    encoding: "utf8",
    env: { ...process.env, [CAPACITY_OUT_ENV]: out, CDKTF_OUTDIR: path.join(work, "out"), CHECKPOINT_DISABLE: "1" },
  });
  if (!fs.existsSync(out)) {
    process.stderr.write(`${run.stderr}${run.stdout}\nthe app defined no WebStack (command: ${app})\n`);
    process.exit(1);
  }
  const answers = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { stack: string; answer: string });
  for (const a of answers) process.stdout.write(`${a.answer}\n`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
