/**
 * Stepped load with Debian's `wrk`: a fixed number of open connections per step, each step bounded
 * in time, requests cycling through the request mix in a fixed order (a Lua script), and the
 * figures parsed from wrk's own report (`--latency` gives the percentiles).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface MixEntry {
  readonly path: string;
  readonly weight: number;
}

export interface StepResult {
  readonly connections: number;
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The Lua script: requests in the mix's weights, round robin, with the site's Host header. */
export function wrkScript(mix: readonly MixEntry[], host: string): string {
  const paths = mix.flatMap((m) => Array.from({ length: m.weight }, () => m.path));
  return [
    `wrk.headers["Host"] = ${JSON.stringify(host)}`,
    `local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }`,
    "local i = 0",
    "request = function()",
    "  i = i + 1",
    "  return wrk.format(\"GET\", paths[(i % #paths) + 1])",
    "end",
    "",
  ].join("\n");
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read the duration '${text}'`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

/** Reads wrk's report (wrk 4.1 with --latency). */
export function parseWrk(out: string, connections: number): StepResult {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1];
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1];
  if (Number.isNaN(requests) || Number.isNaN(rps) || !p50 || !p99) throw new Error(`wrk: unexpected report:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((n, x) => n + Number(x), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return { connections, requests, errors: socketErrors + non2xx, rps: Math.round(rps * 10) / 10, p50Ms: Math.round(durationMs(p50) * 100) / 100, p99Ms: Math.round(durationMs(p99) * 100) / 100 };
}

/** One step: `connections` connections for `seconds` against `url`; at most `seconds` + 10 s. */
export function runStep(url: string, script: string, connections: number, seconds: number, timeoutMs: number): StepResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-wrk-"));
  try {
    const file = path.join(dir, "mix.lua");
    fs.writeFileSync(file, script);
    const threads = Math.min(connections, Math.max(1, os.cpus().length));
    const args = ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", `${Math.ceil(timeoutMs / 1000)}s`, "--latency", "-s", file, url];
    const r = spawnSync("wrk", args, { encoding: "utf8", timeout: (seconds + 10) * 1000 });
    if (r.error) throw new Error(`wrk: ${r.error.message} (apt-get install wrk)`);
    if (r.status !== 0) throw new Error(`wrk exited ${r.status}: ${r.stderr}`);
    return parseWrk(r.stdout, connections);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
