/**
 * The machine side of the e2e suite: the private dockerd (engine.sh), the images (images.sh), what the
 * machine must have installed, and the lock that keeps two runs from sharing one engine.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readTfJson } from "./tf-json";

const HERE = __dirname;

function runScript(script: string, args: string[], timeoutMs: number): string {
  const r = spawnSync("bash", [path.join(HERE, script), ...args], { encoding: "utf8", timeout: timeoutMs });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.error) throw new Error(`${script} ${args.join(" ")}: ${r.error.message}\n${out}`);
  if (r.status !== 0) throw new Error(`${script} ${args.join(" ")} exited ${r.status}:\n${out}`);
  return out;
}

/** What the suite needs on the machine that is missing (root, dockerd, containerd, runc, debootstrap). */
export function missingPrerequisites(): string[] {
  const out = ["dockerd", "containerd", "runc", "debootstrap", "docker"].filter(
    (b) => spawnSync("sh", ["-c", `command -v '${b}'`]).status !== 0,
  );
  if (process.getuid?.() !== 0) out.push("root");
  return out;
}

const LOCK = process.env.WEBSTACK_E2E_LOCK ?? "/run/webstack-e2e.lock";

/**
 * One e2e run at a time on a machine (they share the engine, its port 8080 and the stack names).
 * Waits for a live holder up to waitMs, takes over a stale lock (dead pid).
 */
export async function acquireSuiteLock(waitMs = 20 * 60_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: "wx" });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = Number(fs.readFileSync(LOCK, "utf8").trim());
      let alive = false;
      try {
        if (holder > 0) {
          process.kill(holder, 0);
          alive = true;
        }
      } catch {
        alive = false;
      }
      if (!alive) fs.rmSync(LOCK, { force: true });
      else if (Date.now() > deadline) throw new Error(`another e2e run (pid ${holder}) holds ${LOCK}`);
      else await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

export function releaseSuiteLock(): void {
  try {
    if (fs.readFileSync(LOCK, "utf8").trim() === String(process.pid)) fs.rmSync(LOCK, { force: true });
  } catch {
    /* not held */
  }
}

/** Starts (or reuses) the private dockerd on SOCKET. */
export function startEngine(): string {
  return runScript("engine.sh", ["start"], 120_000);
}

/** Stops the private dockerd, removes its exec-root and checks no iptables DOCKER chain exists. */
export function stopEngine(): string {
  return runScript("engine.sh", ["stop"], 120_000);
}

/**
 * The hard "Max open files" of the running dockerd: containers cannot get a higher nofile ulimit when
 * the engine lacks CAP_SYS_RESOURCE (as in this sandbox, where it is 20000).
 */
export function engineNofileHardLimit(): number {
  const pid = fs.readFileSync(process.env.WEBSTACK_E2E_PIDFILE ?? "/run/webstack-e2e/dockerd.pid", "utf8").trim();
  const line = fs.readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(hard);
}

/** Builds (or finds cached by hash) the images; returns the script's log (timings included). */
export function ensureImages(names: string[]): string {
  return runScript("images.sh", names, 40 * 60_000);
}

/** The docker_image names a cdk.tf.json references. */
export function imagesOf(tfJsonPath: string): string[] {
  const doc = readTfJson(tfJsonPath);
  return Object.values(doc.resource?.docker_image ?? {}).map((r) => String(r.name));
}
