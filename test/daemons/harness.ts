/**
 * A "container-lite" for the daemon tests: each daemon runs in private mount, network and PID
 * namespaces (`unshare`), chrooted into an overlay of the host's root filesystem whose upper layer
 * is a tmpfs. Rendered files are copied to their exact absolute container paths inside that
 * overlay, so nothing on the host changes and every listener is on the namespace's own loopback.
 * Killing the `unshare` process (SIGKILL is enough, thanks to --kill-child) kills PID 1 of the
 * namespace and with it every process the daemon started.
 */
import { Testing } from "cdktf";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Construct } from "constructs";
import type { WebStack } from "../../lib";
import { substituteSecrets } from "../../lib/core/secrets";
import { CI } from "../ci";

export { CI };

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

/** What a daemon test needs that is missing: binaries not on PATH, and root (for namespaces). */
export function missing(bins: string[]): string[] {
  const out = bins.filter((b) => spawnSync("sh", ["-c", `command -v '${b}'`]).status !== 0);
  if (process.getuid?.() !== 0) out.push("root (unshare/mount need it)");
  return out;
}

/**
 * `test` when everything in `bins` is installed. Otherwise, in CI (CI=true) a test that FAILS
 * with the list of what is missing; locally `test.skip`, with a warning.
 */
export function testWith(bins: string[]): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  const gone = missing(bins);
  if (gone.length === 0) return (name, fn, timeout) => test(name, fn, timeout);
  if (CI) {
    return (name) =>
      test(name, () => {
        throw new Error(`missing: ${gone.join(", ")} (CI=true: the daemon suite never skips; install the daemons)`);
      });
  }
  // eslint-disable-next-line no-console
  console.warn(`daemon tests SKIPPED locally, missing: ${gone.join(", ")}`);
  return (name, fn, timeout) => test.skip(name, fn, timeout);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let runSeq = 0;

/**
 * Runs a command with stdout/stderr going to real files (not sockets: daemons such as nginx open
 * /dev/stderr, which fails with ENXIO on a socket), then returns their contents.
 */
function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const base = path.join(os.tmpdir(), `webstack-run-${process.pid}-${runSeq++}`);
  const out = fs.openSync(`${base}.out`, "w+");
  const err = fs.openSync(`${base}.err`, "w+");
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? "ignore" : "pipe", out, err] });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      fs.closeSync(out);
      fs.closeSync(err);
      const stdout = fs.readFileSync(`${base}.out`, "utf8");
      const stderr = fs.readFileSync(`${base}.err`, "utf8");
      fs.rmSync(`${base}.out`, { force: true });
      fs.rmSync(`${base}.err`, { force: true });
      resolve({ code, stdout, stderr });
    });
  });
}

/** With $0 = user name and "$@" = argv: drop to that user and its primary group. */
const AS_USER = `setpriv --reuid="$0" --regid="$(id -g "$0")" --init-groups -- "$@"`;

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface SandboxOptions {
  /** Containers whose files go into this sandbox's root (usually one). */
  files: RenderedFile[];
  /** Extra host directories copied into the root: host path -> container path. */
  copies?: Record<string, string>;
  /** Hostname (own UTS namespace), also added to /etc/hosts as 127.0.0.1, like a container's alias. */
  hostname?: string;
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
        `/bin/sh -c ${sq(`cd ${cwd} && exec ${AS_USER}`)} ${sq(user)} ${daemon.argv.map(sq).join(" ")} >>${sq(this.logFile)} 2>&1 &`
      : "";
    const script = `set -eu
ip link set lo up
mount -t tmpfs tmpfs ${sq(d + "/up")}
mkdir ${sq(d + "/up/u")} ${sq(d + "/up/w")}
mount -t overlay overlay -o lowerdir=/,upperdir=${sq(d + "/up/u")},workdir=${sq(d + "/up/w")} ${sq(R)}
mount -t proc proc ${sq(R + "/proc")}
# A private /dev like a container runtime makes: a few device nodes and the std* links.
mount -t tmpfs -o mode=755 tmpfs ${sq(R + "/dev")}
for n in null zero full random urandom tty; do touch ${sq(R + "/dev")}/$n; mount --bind /dev/$n ${sq(R + "/dev")}/$n; done
mkdir -p ${sq(R + "/dev/shm")} ${sq(R + "/dev/pts")}
mount -t tmpfs -o mode=1777 tmpfs ${sq(R + "/dev/shm")}
ln -s /proc/self/fd ${sq(R + "/dev/fd")}
ln -s /proc/self/fd/0 ${sq(R + "/dev/stdin")}
ln -s /proc/self/fd/1 ${sq(R + "/dev/stdout")}
ln -s /proc/self/fd/2 ${sq(R + "/dev/stderr")}
mount --rbind /sys ${sq(R + "/sys")}
mount -t tmpfs tmpfs ${sq(R + "/tmp")}
mount -t tmpfs tmpfs ${sq(R + "/run")}
chmod 1777 ${sq(R + "/tmp")}
cp -a ${sq(d + "/files")}/. ${sq(R)}/
${copies}
${this.opts.hostname ? `hostname ${sq(this.opts.hostname)}\nprintf '127.0.0.1 %s\\n' ${sq(this.opts.hostname)} >> ${sq(R + "/etc/hosts")}` : ""}
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
      ["--mount", "--propagation", "private", "--net", "--pid", "--uts", "--fork", "--kill-child", "sh", path.join(d, "init.sh")],
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

  /** Host PID of the namespace's PID 1 (for `ip link ... netns <pid>`). */
  get nsPid(): number {
    if (!this.initPid) throw new Error("sandbox not started");
    return this.initPid;
  }

  /** Runs argv in the sandbox's root and network as `user` (default root). */
  exec(argv: string[], opts: { user?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    if (!this.initPid) throw new Error("sandbox not started");
    const envArgs = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const user = opts.user ?? "root";
    return run(
      "nsenter",
      ["-t", String(this.initPid), "-m", "-n", "-p", "--", "chroot", this.root, "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", ...envArgs,
        "/bin/sh", "-c", `exec ${AS_USER}`, user, ...argv],
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

/**
 * Connects two sandboxes' network namespaces with a veth pair, addresses in CIDR form
 * (e.g. "10.88.1.10/16"). Used where two daemons both listen on '*' on the same port.
 */
export async function link(a: Sandbox, aCidr: string, b: Sandbox, bCidr: string): Promise<void> {
  const n = String(runSeq++);
  const r = await run("ip", ["link", "add", `wsa${n}`, "netns", String(a.nsPid), "type", "veth", "peer", "name", `wsb${n}`, "netns", String(b.nsPid)]);
  if (r.code !== 0) throw new Error(`ip link add: ${r.stderr}`);
  for (const [box, dev, cidr] of [[a, `wsa${n}`, aCidr], [b, `wsb${n}`, bCidr]] as const) {
    const up = await box.sh(`ip addr add ${cidr} dev ${dev} && ip link set ${dev} up`);
    if (up.code !== 0) throw new Error(`${box.name}: ${up.stderr}`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
