/**
 * The measure command's side of a Docker engine, through the `docker` CLI (DOCKER_HOST is honoured):
 * deploy a measure subset with its real rendered files, wait for health, read process memory, and
 * remove everything it made, labelled with the run's id so a crashed run can be cleaned up too.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ContainerSpec } from "../core/model";
import type { MeasureSubset } from "../core/measure-subset";
import { substituteSecrets } from "../core/secrets";

export const MEASURE_LABEL = "webstack.measure";

function docker(args: readonly string[], input?: string): string {
  const r = spawnSync("docker", args, { encoding: "utf8", input, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`docker ${args[0]}: ${r.error.message} (is the docker CLI installed and DOCKER_HOST right?)`);
  if (r.status !== 0) throw new Error(`docker ${args.slice(0, 2).join(" ")} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/** "Docker 20.10.24, 2 CPUs, 23.5 GiB": the engine a measurement was taken on. */
export function describeEngine(): string {
  const version = docker(["version", "--format", "{{.Server.Version}}"]);
  const [cpus, mem] = docker(["info", "--format", "{{.NCPU}} {{.MemTotal}}"]).split(" ").map(Number);
  return `Docker ${version}, ${cpus} CPUs, ${(mem / 2 ** 30).toFixed(1)} GiB`;
}

export function imageId(image: string): string {
  return docker(["image", "inspect", "--format", "{{.Id}}", image]);
}

/** The `docker create` arguments of one container: the same settings the Terraform resource has. */
function createArgs(c: ContainerSpec, name: string, network: string, volumeName: (key: string) => string, secret: (s: string) => string, runId: string): string[] {
  const h = c.healthcheck;
  const healthCmd = h.test[0] === "CMD-SHELL" ? h.test[1] : h.test.slice(1).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return [
    "create",
    "--name", name,
    "--label", `${MEASURE_LABEL}=${runId}`,
    "--network", network,
    "--ip", c.address,
    ...[c.name, ...c.aliases].flatMap((a) => ["--network-alias", a]),
    "--memory", `${c.memoryMiB}m`,
    "--memory-swap", `${c.memoryMiB}m`,
    ...(c.cpus !== undefined ? ["--cpus", String(c.cpus)] : []),
    ...(c.user ? ["--user", c.user] : []),
    ...(c.workingDir ? ["--workdir", c.workingDir] : []),
    ...Object.entries(c.env).flatMap(([k, v]) => ["--env", `${k}=${substituteSecrets(v, secret)}`]),
    ...c.mounts.flatMap((m) => ["--volume", `${volumeName(m.volume)}:${m.path}${m.readOnly ? ":ro" : ""}`]),
    ...Object.entries(c.sysctls).flatMap(([k, v]) => ["--sysctl", `${k}=${v}`]),
    ...c.ulimits.flatMap((u) => ["--ulimit", `${u.name}=${u.soft}:${u.hard}`]),
    "--health-cmd", healthCmd,
    "--health-interval", `${Math.min(h.intervalSeconds, 2)}s`,
    "--health-timeout", `${h.timeoutSeconds}s`,
    "--health-retries", String(h.retries),
    "--health-start-period", `${h.startPeriodSeconds}s`,
    "--stop-timeout", String(c.stopTimeoutSeconds),
    "--entrypoint", c.command[0],
    c.image,
    ...c.command.slice(1),
  ];
}

/** A fresh id for one run's labels and names. */
export const newRunId = () => randomBytes(4).toString("hex");

/** A deployed subset: its container names by plan key, and how to remove it. */
export interface Deployment {
  readonly runId: string;
  readonly names: ReadonlyMap<string, string>;
}

/**
 * Creates the network, volumes and containers (files copied in before start), then starts them in
 * order, each once its dependencies are healthy. Secrets get fresh random values for this run only.
 */
export function deploy(s: MeasureSubset, runId: string, log: (line: string) => void, healthTimeoutMs = 240_000): Deployment {
  const prefix = `webstack-measure-${runId}`;
  const secrets = new Map(s.secrets.map((x) => [x.name, randomBytes(18).toString("base64url")]));
  const secret = (n: string) => secrets.get(n) ?? randomBytes(18).toString("base64url");
  const network = `${prefix}-net`;
  docker(["network", "create", "--label", `${MEASURE_LABEL}=${runId}`, "--subnet", s.network.subnet, "--gateway", s.network.gateway, network]);
  const volumeName = (key: string) => `${prefix}-${key}`;
  for (const v of s.volumes) docker(["volume", "create", "--label", `${MEASURE_LABEL}=${runId}`, volumeName(v.key)]);
  const names = new Map<string, string>();
  const files = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-measure-"));
  try {
    for (const c of s.containers) {
      const name = `${prefix}-${c.key}`;
      docker(createArgs(c, name, network, volumeName, secret, runId));
      names.set(c.key, name);
      if (c.files.length === 0) continue;
      const root = path.join(files, c.key);
      for (const f of c.files) {
        const target = path.join(root, f.path);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, substituteSecrets(f.content, secret), { mode: f.executable ? 0o755 : 0o644 });
      }
      docker(["cp", `${root}/.`, `${name}:/`]);
    }
  } finally {
    fs.rmSync(files, { recursive: true, force: true });
  }
  const deployment = { runId, names };
  for (const c of s.containers) {
    for (const dep of c.dependsOn) waitHealthy(names.get(dep)!, healthTimeoutMs);
    docker(["start", names.get(c.key)!]);
    log(`  started ${c.key}`);
  }
  for (const c of s.containers) waitHealthy(names.get(c.key)!, healthTimeoutMs);
  return deployment;
}

/** Blocks this (command-line) process for `ms` without spinning. */
const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function waitHealthy(name: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = docker(["inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name]);
    if (state.endsWith("healthy") && !state.endsWith("unhealthy")) return;
    if (state.startsWith("exited") || state.startsWith("dead")) throw new Error(`${name} stopped (${state}); its log:\n${docker(["logs", "--tail", "30", name])}`);
    if (Date.now() > deadline) throw new Error(`${name} not healthy after ${timeoutMs / 1000} s (${state}); its log:\n${docker(["logs", "--tail", "30", name])}`);
    sleepSync(500);
  }
}

/**
 * Resident memory of each worker process of the app server, MiB: every uwsgi or gunicorn process
 * but the master (the one whose parent is not one of them).
 */
export function workerRssMiB(container: string, server: "uwsgi" | "gunicorn"): number[] {
  const rows = docker(["top", container, "-eo", "pid,ppid,rss,args"]).split("\n").slice(1).map((l) => l.trim().split(/\s+/));
  const procs = rows.filter((r) => r.slice(3).join(" ").includes(server)).map((r) => ({ pid: r[0], ppid: r[1], rssKiB: Number(r[2]) }));
  const pids = new Set(procs.map((p) => p.pid));
  return procs.filter((p) => pids.has(p.ppid)).map((p) => p.rssKiB / 1024);
}

/** Removes every container, volume and network of the run (also after a failure). */
export function remove(runId: string): void {
  const filter = ["--filter", `label=${MEASURE_LABEL}=${runId}`];
  const containers = docker(["ps", "-aq", ...filter]).split("\n").filter(Boolean);
  if (containers.length > 0) docker(["rm", "-f", "-v", ...containers]);
  const volumes = docker(["volume", "ls", "-q", ...filter]).split("\n").filter(Boolean);
  if (volumes.length > 0) docker(["volume", "rm", "-f", ...volumes]);
  const networks = docker(["network", "ls", "-q", ...filter]).split("\n").filter(Boolean);
  if (networks.length > 0) docker(["network", "rm", ...networks]);
}
