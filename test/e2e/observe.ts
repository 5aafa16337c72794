/**
 * Looking at an applied cluster: inspect, logs, exec, and waiting until it is healthy. When it does not
 * get healthy, the report says why (state, health-check output, log tail), since the cluster is
 * destroyed before anyone could look.
 */
import type { Handle } from "./apply";
import { call, demux, request } from "./docker-api";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ContainerInfo {
  Id: string;
  Name: string;
  RestartCount: number;
  State: {
    Status: string;
    Running: boolean;
    ExitCode: number;
    Error: string;
    OOMKilled: boolean;
    /** RFC 3339 times from the engine; FinishedAt is the zero time while it never stopped. */
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string; Start: string }> };
  };
  Config: { Labels: Record<string, string>; Healthcheck?: unknown };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Aliases: string[] | null }> };
  [k: string]: unknown;
}

export function inspect(nameOrId: string): Promise<ContainerInfo> {
  return call<ContainerInfo>("GET", `/containers/${encodeURIComponent(nameOrId)}/json`);
}

export async function logs(nameOrId: string, tail = 200): Promise<{ stdout: string; stderr: string; combined: string }> {
  const r = await request("GET", `/containers/${encodeURIComponent(nameOrId)}/logs?stdout=1&stderr=1&tail=${tail}`);
  if (r.status !== 200) return { stdout: "", stderr: "", combined: `(logs unavailable: ${r.status} ${r.body.toString()})` };
  return demux(r.body);
}

/** Runs a command in a running container (as its user unless given); returns exit code and output. */
export async function exec(nameOrId: string, cmd: string[], user?: string): Promise<{ exitCode: number; output: string }> {
  const { Id } = await call<{ Id: string }>("POST", `/containers/${encodeURIComponent(nameOrId)}/exec`, {
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
    ...(user ? { User: user } : {}),
  });
  const r = await request("POST", `/exec/${Id}/start`, { Detach: false, Tty: false });
  const info = await call<{ ExitCode: number }>("GET", `/exec/${Id}/json`);
  return { exitCode: info.ExitCode, output: demux(r.body).combined };
}

/** A one-shot container (must_run = false) is done well when it exited 0. */
const finishedWell = (i: ContainerInfo) => i.State.Status === "exited" && i.State.ExitCode === 0;

export interface HealthReport {
  ok: boolean;
  /** ms from apply start until all were healthy (or until giving up). */
  elapsedMs: number;
  /** Per container: ms from apply start until it was first seen healthy. */
  healthyAtMs: Record<string, number>;
  status: Record<string, string>;
  /** Human-readable account of the containers that are not healthy: state, health log, container log. */
  details: string;
}

/**
 * Polls until every container with a healthcheck is healthy, every one-shot container exited 0, and
 * every other one running. Gives up
 * at the timeout, or early when a container keeps restarting/exited for good.
 */
export async function waitHealthy(handle: Handle, timeoutMs: number, pollMs = 1000): Promise<HealthReport> {
  const healthyAt: Record<string, number> = {};
  const status: Record<string, string> = {};
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let allOk = true;
    let hopeless = false;
    for (const c of handle.containers) {
      const i = await inspect(c.id);
      const h = i.State.Health?.Status;
      const s = h ? `${i.State.Status}/${h}` : i.State.Status;
      status[c.name] = i.RestartCount ? `${s} (restarts: ${i.RestartCount})` : s;
      const ok = c.oneShot ? finishedWell(i) : h ? h === "healthy" : i.State.Running;
      if (ok && healthyAt[c.name] === undefined) healthyAt[c.name] = Date.now() - handle.startedAt;
      if (!ok) allOk = false;
      const exitedForGood = i.State.Status === "exited" && i.HostConfig && (i.HostConfig as { RestartPolicy: { Name: string } }).RestartPolicy.Name === "no";
      if (i.RestartCount >= 3 || (exitedForGood && !ok)) hopeless = true;
    }
    if (allOk || hopeless || Date.now() > deadline) {
      return { ok: allOk, elapsedMs: Date.now() - handle.startedAt, healthyAtMs: healthyAt, status, details: allOk ? "" : await describeUnhealthy(handle) };
    }
    await sleep(pollMs);
  }
}

/** State, last health-check outputs and log tail of every container that is not healthy. */
export async function describeUnhealthy(handle: Handle): Promise<string> {
  const out: string[] = [];
  for (const c of handle.containers) {
    const i = await inspect(c.id).catch(() => undefined);
    if (!i) continue;
    const h = i.State.Health;
    if (c.oneShot ? finishedWell(i) : h ? h.Status === "healthy" : i.State.Running) continue;
    out.push(
      `=== ${c.name} (${c.resource}): ${i.State.Status}${h ? `/${h.Status}` : ""}, exit ${i.State.ExitCode}, restarts ${i.RestartCount}${i.State.OOMKilled ? ", OOM-killed" : ""}${i.State.Error ? `, error: ${i.State.Error}` : ""}`,
    );
    for (const l of (h?.Log ?? []).slice(-2)) out.push(`  health check exit ${l.ExitCode}: ${l.Output.trim().slice(0, 600)}`);
    out.push(`  log tail:\n${(await logs(c.id, 40)).combined.replace(/^/gm, "    ")}`);
  }
  return out.join("\n");
}
