/**
 * A "container-lite" for the daemon tests: each daemon runs in private mount, network and PID
 * namespaces (`unshare`), chrooted into an overlay of the host's root filesystem whose upper layer
 * is a tmpfs. Rendered files are copied to their exact absolute container paths inside that
 * overlay, so nothing on the host changes and every listener is on the namespace's own loopback.
 * Killing the `unshare` process (SIGKILL is enough, thanks to --kill-child) kills PID 1 of the
 * namespace and with it every process the daemon started.
 */
import { Testing } from "cdktf";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Construct } from "constructs";
import type { WebStack } from "../../lib";
import { substituteSecrets } from "../../lib/core/secrets";

export const CI = process.env.CI === "true" || process.env.CI === "1";

/** Test passwords for every secret placeholder; deterministic, no shell metacharacters. */
export function secretValue(name: string): string {
  return `test-${name.replace(/_/g, "-")}-pw`;
}

export interface RenderedFile {
  path: string;
  content: string;
  executable: boolean;
}
export interface Container {
  key: string;
  role: string;
  files: RenderedFile[];
  command: string[];
  env: Record<string, string>;
  address: string;
  user?: string;
  listens: { port: number; purpose: string }[];
  [k: string]: unknown;
}

/** Every container of a synthesized stack, secrets replaced by test passwords. */
export function containersOf(build: (scope: Construct) => WebStack): Container[] {
  const stack = build(Testing.app());
  const plan = stack.cluster().plan as unknown as { containers: Container[] };
  return plan.containers.map((c) => ({
    ...c,
    env: Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, substituteSecrets(v, secretValue)])),
    files: c.files.map((f) => ({ ...f, content: substituteSecrets(f.content, secretValue) })),
  }));
}

export function container(cs: Container[], key: string): Container {
  const c = cs.find((x) => x.key === key);
  if (!c) throw new Error(`no container ${key}; have ${cs.map((x) => x.key).join(", ")}`);
  return c;
}

export function fileIn(c: Container, p: string): string {
  const f = c.files.find((x) => x.path === p);
  if (!f) throw new Error(`no file ${p} in ${c.key}`);
  return f.content;
}

/** `name = value` (postgresql.conf, rabbitmq.conf) or `name value` (redis.conf) lookup. */
export function confValue(text: string, name: string): string {
  const re = new RegExp(`^\\s*${name.replace(/\./g, "\\.")}\\s*(?:=\\s*|\\s+)(.*?)\\s*$`, "m");
  const m = re.exec(text);
  if (!m) throw new Error(`no ${name} in config`);
  return m[1].replace(/^'(.*)'$/, "$1");
}

/** Fails (in CI) or reports "skip" (locally) when a binary is missing. */
export function requireBinaries(...bins: string[]): boolean {
  const missing = bins.filter((b) => spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0);
  if (missing.length === 0) return true;
  const msg = `missing binaries: ${missing.join(", ")}`;
  if (CI) throw new Error(`${msg} (CI=true: the daemon suite must not skip)`);
  // eslint-disable-next-line no-console
  console.warn(`SKIPPING: ${msg}`);
  return false;
}

/** `test` or `test.skip` depending on binaries; in CI always `test`, failing on a missing binary. */
export function testWith(bins: string[]): jest.It {
  const ok = CI || bins.every((b) => spawnSync("sh", ["-c", `command -v ${b}`]).status === 0);
  if (!ok) console.warn(`SKIPPING (not CI): missing one of ${bins.join(", ")}`);
  return ok ? test : test.skip;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as NodeJS.ErrnoException & { code?: unknown }).code as number | null) ?? 1 : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface SandboxOptions {
  /** Containers whose files go into this sandbox's root (usually one). */
  files: RenderedFile[];
  /** Extra host directories copied into the root: host path -> container path. */
  copies?: Record<string, string>;
  /** Shell run as root inside the chroot before the daemon starts (mkdir, chown...). */
  setup?: string;
}

/**
 * One namespace set. `start(user, argv, env)` runs a long-lived daemon; `exec` runs a command in
 * the same root and network; `stop` kills everything.
 */
export class Sandbox {
  readonly dir: string;
  readonly root: string;
  readonly logFile: string;
  private proc?: ChildProcess;
  private initPid?: number;

  constructor(readonly name: string, private readonly opts: SandboxOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `webstack-daemon-${name}-`));
    this.root = path.join(this.dir, "root");
    this.logFile = path.join(this.dir, "daemon.log");
    const staging = path.join(this.dir, "files");
    for (const f of opts.files) {
      const dest = path.join(staging, f.path);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, f.content, { mode: f.executable ? 0o755 : 0o644 });
    }
    fs.mkdirSync(staging, { recursive: true });
    fs.mkdirSync(this.root);
    fs.mkdirSync(path.join(this.dir, "up"));
  }

  /** Starts the namespace (and the daemon, if argv is given). Resolves once the root is set up. */
  async start(daemon?: { user?: string; argv: string[]; env?: Record<string, string>; cwd?: string }): Promise<void> {
    const d = this.dir;
    const R = this.root;
    const copies = Object.entries(this.opts.copies ?? {})
      .map(([from, to]) => `mkdir -p ${sq(R + to)} && cp -a ${sq(from)}/. ${sq(R + to)}/`)
      .join("\n");
    const envArgs = Object.entries(daemon?.env ?? {}).map(([k, v]) => sq(`${k}=${v}`)).join(" ");
    const user = daemon?.user ?? "root";
    const cwd = daemon?.cwd ?? "/";
    const daemonLine = daemon
      ? `chroot ${sq(R)} /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp ${envArgs} ` +
        `/bin/sh -c ${sq(`cd ${cwd} && exec setpriv --reuid=${user} --regid=${user} --init-groups -- "$@"`)} sh ${daemon.argv.map(sq).join(" ")} >>${sq(this.logFile)} 2>&1 &`
      : "";
    const script = `set -eu
ip link set lo up
mount -t tmpfs tmpfs ${sq(d + "/up")}
mkdir ${sq(d + "/up/u")} ${sq(d + "/up/w")}
mount -t overlay overlay -o lowerdir=/,upperdir=${sq(d + "/up/u")},workdir=${sq(d + "/up/w")} ${sq(R)}
mount -t proc proc ${sq(R + "/proc")}
mount --rbind /dev ${sq(R + "/dev")}
mount --rbind /sys ${sq(R + "/sys")}
mount -t tmpfs tmpfs ${sq(R + "/tmp")}
mount -t tmpfs tmpfs ${sq(R + "/run")}
chmod 1777 ${sq(R + "/tmp")}
cp -a ${sq(d + "/files")}/. ${sq(R)}/
${copies}
chroot ${sq(R)} /bin/sh -eu -c ${sq(this.opts.setup ?? ":")}
touch ${sq(d + "/ready")}
${daemonLine}
# PID 1 of the namespace: stays until killed, reaping orphans.
while :; do wait || true; sleep 1; done
`;
    fs.writeFileSync(path.join(d, "init.sh"), script);
    fs.writeFileSync(this.logFile, "");
    this.proc = spawn(
      "unshare",
      ["--mount", "--propagation", "private", "--net", "--pid", "--fork", "--kill-child", "sh", path.join(d, "init.sh")],
      { detached: true, stdio: ["ignore", fs.openSync(path.join(d, "init.log"), "a"), fs.openSync(path.join(d, "init.log"), "a")] },
    );
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(path.join(d, "ready"))) {
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        throw new Error(`sandbox ${this.name} setup failed:\n${fs.readFileSync(path.join(d, "init.log"), "utf8")}`);
      }
      await sleep(100);
    }
    const children = fs.readFileSync(`/proc/${this.proc.pid}/task/${this.proc.pid}/children`, "utf8").trim().split(/\s+/);
    this.initPid = Number(children[0]);
  }

  /** Runs argv in the sandbox's root and network as `user` (default root). */
  exec(argv: string[], opts: { user?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    if (!this.initPid) throw new Error("sandbox not started");
    const envArgs = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const user = opts.user ?? "root";
    return run(
      "nsenter",
      ["-t", String(this.initPid), "-m", "-n", "--", "chroot", this.root, "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", ...envArgs,
        "setpriv", `--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", ...argv],
      { timeoutMs: opts.timeoutMs, input: opts.input },
    );
  }

  /** Shell snippet run with sh -c inside the sandbox. */
  sh(script: string, opts: { user?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    return this.exec(["/bin/sh", "-c", script], opts);
  }

  /** Polls `check` until it returns true, else throws with the daemon log. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return;
      await sleep(500);
    }
    throw new Error(`${this.name}: timed out waiting for ${what}\n--- daemon log ---\n${this.log()}`);
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, "utf8").slice(-8000);
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.pid) {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
      const deadline = Date.now() + 10_000;
      while (p.exitCode === null && p.signalCode === null && Date.now() < deadline) await sleep(50);
    }
    // The namespace's mounts vanish with it; only the staging dir remains.
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
