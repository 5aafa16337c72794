/**
 * Test-only applier: deploys a synthesized cdk.tf.json (kreuzwerker/docker 3.6.2 resources) onto the
 * suite's private Docker engine through the Engine API, with the provider's semantics, because this
 * machine cannot download Terraform providers.
 *
 * - Every attribute of every resource must be one this file knows; anything else FAILS the apply with
 *   its name, so nothing in the JSON is silently ignored ("//" metadata is skipped).
 * - Strings are Terraform templates: `${var.X}`, `${docker_network.X.name}`, `${docker_image.X.image_id}`,
 *   `${docker_volume.X.name}` are resolved, `$${` and `%%{` unescape. Any other `${...}` or `%{...}`
 *   would be parsed by Terraform as an expression/directive; it is collected as a template problem and,
 *   unless `lenientTemplates` is set, fails the apply (Terraform itself would reject the file).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { call, demux, DockerApiError, request, SOCKET, tar } from "./docker-api";

export { SOCKET, DockerApiError };

const HERE = __dirname;
export const CI = process.env.CI === "true" || process.env.CI === "1";
/** Label added to everything the applier creates, so a crashed run can be cleaned up. */
export const E2E_LABEL = "webstack.e2e";

// ---------------------------------------------------------------------------------------------
// engine and images

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
  const doc = JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as TfDoc;
  return Object.values(doc.resource?.docker_image ?? {}).map((r) => String(r.name));
}

// ---------------------------------------------------------------------------------------------
// templates

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Block = Record<string, Json>;
interface TfDoc {
  resource?: Record<string, Record<string, Block>>;
  variable?: Record<string, Block>;
  [k: string]: unknown;
}

export interface TemplateProblem {
  resource: string;
  attribute: string;
  text: string;
  reason: string;
}

interface Refs {
  vars: Record<string, string>;
  networks: Record<string, string>;
  images: Record<string, string>;
  volumes: Record<string, string>;
}

/**
 * Renders one Terraform string template. Unknown interpolations/directives are reported through
 * `problem` and kept literally (what the author evidently meant).
 */
export function renderTemplate(s: string, refs: Refs, problem: (text: string, reason: string) => void): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("$${", i)) {
      out += "${";
      i += 3;
    } else if (s.startsWith("%%{", i)) {
      out += "%{";
      i += 3;
    } else if (s.startsWith("${", i) || s.startsWith("%{", i)) {
      const end = s.indexOf("}", i);
      const whole = end < 0 ? s.slice(i) : s.slice(i, end + 1);
      const expr = (end < 0 ? s.slice(i + 2) : s.slice(i + 2, end)).trim().replace(/^~|~$/g, "").trim();
      if (s[i] === "%") {
        problem(whole, "Terraform parses `%{` as a template directive (escape it as `%%{`)");
        out += whole;
      } else {
        const v = resolveRef(expr, refs);
        if (v === undefined) {
          problem(whole, "Terraform parses `${` as an interpolation; this is not a reference the stack declares (escape it as `$${`)");
          out += whole;
        } else out += v;
      }
      i += whole.length;
    } else {
      out += s[i];
      i += 1;
    }
  }
  return out;
}

function resolveRef(expr: string, refs: Refs): string | undefined {
  let m = /^var\.([A-Za-z_][A-Za-z0-9_-]*)$/.exec(expr);
  if (m) return refs.vars[m[1]];
  m = /^docker_network\.([A-Za-z_][A-Za-z0-9_-]*)\.name$/.exec(expr);
  if (m) return refs.networks[m[1]];
  m = /^docker_image\.([A-Za-z_][A-Za-z0-9_-]*)\.(image_id|name)$/.exec(expr);
  if (m) return refs.images[m[1]];
  m = /^docker_volume\.([A-Za-z_][A-Za-z0-9_-]*)\.name$/.exec(expr);
  if (m) return refs.volumes[m[1]];
  return undefined;
}

/** Deep-renders every string of a value. */
function renderDeep(v: Json, refs: Refs, problem: (attr: string, text: string, reason: string) => void, attr: string): Json {
  if (typeof v === "string") return renderTemplate(v, refs, (t, r) => problem(attr, t, r));
  if (Array.isArray(v)) return v.map((x, i) => renderDeep(x, refs, problem, `${attr}[${i}]`));
  if (v && typeof v === "object") {
    const o: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) o[k] = k === "//" ? x : renderDeep(x, refs, problem, attr ? `${attr}.${k}` : k);
    return o;
  }
  return v;
}

/** Every template problem in a cdk.tf.json (all resources, with placeholder reference values). */
export function templateProblems(tfJsonPath: string): TemplateProblem[] {
  const doc = JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as TfDoc;
  const problems: TemplateProblem[] = [];
  const any = new Proxy({}, { get: () => "x" }) as Record<string, string>;
  const refs: Refs = { vars: any, networks: any, images: any, volumes: any };
  for (const [type, rs] of Object.entries(doc.resource ?? {})) {
    for (const [name, r] of Object.entries(rs)) {
      renderDeep(r, refs, (attribute, text, reason) => problems.push({ resource: `${type}.${name}`, attribute, text, reason }), "");
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// schema: every attribute the applier handles; anything else fails the apply

const SCHEMA: Record<string, { keys: string[]; nested?: Record<string, string[]> }> = {
  docker_network: {
    keys: ["name", "driver", "ipam_config", "labels", "internal", "attachable", "options", "depends_on"],
    nested: { ipam_config: ["subnet", "gateway", "ip_range", "aux_address"], labels: ["label", "value"] },
  },
  docker_volume: {
    keys: ["name", "labels", "driver", "driver_opts", "depends_on"],
    nested: { labels: ["label", "value"] },
  },
  docker_image: { keys: ["name", "keep_locally", "depends_on"] },
  docker_container: {
    keys: [
      "name", "image", "command", "entrypoint", "env", "healthcheck", "hostname", "labels", "log_driver", "log_opts",
      "memory", "memory_swap", "must_run", "networks_advanced", "ports", "restart", "max_retry_count", "stop_timeout",
      "stop_signal", "sysctls", "ulimit", "upload", "user", "volumes", "depends_on", "working_dir", "tmpfs", "shm_size",
      "read_only", "init",
    ],
    nested: {
      healthcheck: ["test", "interval", "timeout", "start_period", "retries"],
      labels: ["label", "value"],
      networks_advanced: ["name", "ipv4_address", "aliases"],
      ports: ["internal", "external", "ip", "protocol"],
      ulimit: ["name", "soft", "hard"],
      upload: ["file", "content", "executable"],
      volumes: ["volume_name", "container_path", "read_only"],
    },
  },
};

function checkSchema(type: string, name: string, r: Block): string[] {
  const s = SCHEMA[type];
  if (!s) return [`${type}.${name}: resource type ${type} is not handled by the e2e applier`];
  const errs: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (k === "//") continue;
    if (!s.keys.includes(k)) {
      errs.push(`${type}.${name}: attribute "${k}" is not handled by the e2e applier`);
      continue;
    }
    const allowed = s.nested?.[k];
    if (!allowed || v === null) continue;
    const items = Array.isArray(v) ? v : [v];
    items.forEach((item, i) => {
      if (item && typeof item === "object" && !Array.isArray(item)) {
        for (const nk of Object.keys(item)) {
          if (!allowed.includes(nk)) errs.push(`${type}.${name}: attribute "${k}[${i}].${nk}" is not handled by the e2e applier`);
        }
      }
    });
  }
  return errs;
}

// ---------------------------------------------------------------------------------------------
// conversions (provider semantics)

/** Go duration ("10s", "1m30s", "500ms", "0s") to nanoseconds, as the provider parses healthcheck times. */
export function durationNs(d: string): number {
  if (d === "0" || d === "") return 0;
  const unit: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(d))) {
    total += Number(m[1]) * unit[m[2]];
    consumed = re.lastIndex;
  }
  if (consumed !== d.length) throw new Error(`not a Go duration: "${d}"`);
  return Math.round(total);
}

const MiB = 1024 * 1024;
const list = <T = Block>(v: Json | undefined): T[] => (v === undefined || v === null ? [] : ((Array.isArray(v) ? v : [v]) as T[]));
const labelsMap = (v: Json | undefined): Record<string, string> =>
  Object.fromEntries(list(v).map((l) => [String(l.label), String(l.value)]));

function containerSpec(r: Block, e2eLabels: Record<string, string>): { body: Record<string, unknown>; extraNetworks: Array<{ name: string; cfg: unknown }> } {
  const hc = r.healthcheck as Block | undefined;
  const ports = list(r.ports);
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of ports) {
    const key = `${p.internal}/${p.protocol ?? "tcp"}`;
    exposed[key] = {};
    if (p.external !== undefined && p.external !== null) {
      (bindings[key] ??= []).push({ HostIp: String(p.ip ?? "0.0.0.0"), HostPort: String(p.external) });
    }
  }
  const nets = list(r.networks_advanced).map((n) => ({
    name: String(n.name),
    cfg: {
      Aliases: list<string>(n.aliases),
      ...(n.ipv4_address ? { IPAMConfig: { IPv4Address: String(n.ipv4_address) } } : {}),
    },
  }));
  const restart = r.restart === undefined ? "no" : String(r.restart);
  const hostConfig: Record<string, unknown> = {
    RestartPolicy: { Name: restart, MaximumRetryCount: restart === "on-failure" ? Number(r.max_retry_count ?? 0) : 0 },
    PortBindings: bindings,
    Mounts: list(r.volumes).map((v) => ({
      Type: "volume",
      Source: String(v.volume_name),
      Target: String(v.container_path),
      ReadOnly: v.read_only === true,
    })),
    NetworkMode: nets[0]?.name ?? "none",
  };
  if (r.memory !== undefined) hostConfig.Memory = Number(r.memory) * MiB;
  if (r.memory_swap !== undefined) hostConfig.MemorySwap = Number(r.memory_swap) === -1 ? -1 : Number(r.memory_swap) * MiB;
  if (r.sysctls) hostConfig.Sysctls = Object.fromEntries(Object.entries(r.sysctls as Block).map(([k, v]) => [k, String(v)]));
  const ulimits = list(r.ulimit);
  if (ulimits.length) hostConfig.Ulimits = ulimits.map((u) => ({ Name: String(u.name), Soft: Number(u.soft), Hard: Number(u.hard) }));
  if (r.log_driver !== undefined || r.log_opts !== undefined) {
    hostConfig.LogConfig = {
      Type: String(r.log_driver ?? "json-file"),
      Config: Object.fromEntries(Object.entries((r.log_opts ?? {}) as Block).map(([k, v]) => [k, String(v)])),
    };
  }
  if (r.tmpfs) hostConfig.Tmpfs = r.tmpfs;
  if (r.shm_size !== undefined) hostConfig.ShmSize = Number(r.shm_size) * MiB;
  if (r.read_only !== undefined) hostConfig.ReadonlyRootfs = r.read_only === true;
  if (r.init !== undefined) hostConfig.Init = r.init === true;

  const body: Record<string, unknown> = {
    Image: String(r.image),
    Hostname: r.hostname === undefined ? undefined : String(r.hostname),
    User: r.user === undefined ? undefined : String(r.user),
    Env: list<string>(r.env).map(String),
    Labels: { ...labelsMap(r.labels), ...e2eLabels },
    ExposedPorts: exposed,
    HostConfig: hostConfig,
    NetworkingConfig: nets.length ? { EndpointsConfig: { [nets[0].name]: nets[0].cfg } } : undefined,
  };
  if (r.entrypoint !== undefined) body.Entrypoint = list<string>(r.entrypoint).map(String);
  if (r.command !== undefined) body.Cmd = list<string>(r.command).map(String);
  if (r.working_dir !== undefined) body.WorkingDir = String(r.working_dir);
  if (r.stop_signal !== undefined) body.StopSignal = String(r.stop_signal);
  if (r.stop_timeout !== undefined) body.StopTimeout = Number(r.stop_timeout);
  if (hc) {
    body.Healthcheck = {
      Test: list<string>(hc.test).map(String),
      Interval: durationNs(String(hc.interval ?? "0s")),
      Timeout: durationNs(String(hc.timeout ?? "0s")),
      StartPeriod: durationNs(String(hc.start_period ?? "0s")),
      Retries: Number(hc.retries ?? 0),
    };
  }
  return { body, extraNetworks: nets.slice(1) };
}

// ---------------------------------------------------------------------------------------------
// apply / destroy

export interface AppliedContainer {
  /** Resource name in the JSON, e.g. container-db-primary. */
  resource: string;
  name: string;
  id: string;
  startedAt: number;
}

export interface Handle {
  tfJsonPath: string;
  containers: AppliedContainer[];
  volumes: string[];
  networks: string[];
  templateProblems: TemplateProblem[];
  /** Where the deployment knowingly differs from the JSON (options such as ulimitCap). */
  deviations: string[];
  /** Milliseconds from the start of apply to the last container started. */
  applyMs: number;
  startedAt: number;
}

export interface ApplyOptions {
  /** Keep unknown `${...}` / `%{...}` literally instead of failing (they are still listed in the handle). */
  lenientTemplates?: boolean;
  /** Remove leftovers of an earlier run with the same names (only objects carrying the e2e label). */
  replaceLeftovers?: boolean;
  /**
   * Clamp ulimit soft/hard to this value (a deviation, recorded in handle.deviations). Needed where
   * dockerd's own hard limit is lower than what the JSON asks and cannot be raised (no CAP_SYS_RESOURCE):
   * runc then fails with "error setting rlimit type 7: operation not permitted".
   */
  ulimitCap?: number;
}

/** Containers in dependency order (depends_on), stable by name otherwise; fails on cycles/unknown deps. */
function orderContainers(cs: Record<string, Block>): string[] {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: string[] = [];
  const visit = (n: string, from?: string) => {
    if (done.has(n)) return;
    if (!cs[n]) throw new Error(`depends_on of ${from} names docker_container.${n}, which is not in the stack`);
    if (visiting.has(n)) throw new Error(`depends_on cycle through docker_container.${n}`);
    visiting.add(n);
    for (const d of list<string>(cs[n].depends_on)) {
      const m = /^(\w+)\.([A-Za-z0-9_-]+)$/.exec(d);
      if (!m) throw new Error(`docker_container.${n}: depends_on entry "${d}" is not TYPE.NAME`);
      if (m[1] === "docker_container") visit(m[2], n);
      // Networks, volumes and images are always created before any container.
    }
    visiting.delete(n);
    done.add(n);
    order.push(n);
  };
  for (const n of Object.keys(cs).sort()) visit(n);
  return order;
}

async function removeLeftovers(doc: TfDoc, refsVars: Record<string, string>): Promise<void> {
  const names = (type: string) => Object.values(doc.resource?.[type] ?? {}).map((r) => renderTemplate(String(r.name), { vars: refsVars, networks: {}, images: {}, volumes: {} }, () => {}));
  for (const n of names("docker_container")) {
    const info = await request("GET", `/containers/${encodeURIComponent(n)}/json`);
    if (info.status === 200) {
      const labels = (JSON.parse(info.body.toString()) as { Config: { Labels: Record<string, string> } }).Config.Labels ?? {};
      if (labels[E2E_LABEL] !== "1") throw new Error(`container ${n} exists and was not made by the e2e applier; refusing to remove it`);
      await call("DELETE", `/containers/${encodeURIComponent(n)}?force=1`, undefined, { allow: [404] });
    }
  }
  for (const n of names("docker_volume")) await call("DELETE", `/volumes/${encodeURIComponent(n)}`, undefined, { allow: [404] });
  for (const n of names("docker_network")) await call("DELETE", `/networks/${encodeURIComponent(n)}`, undefined, { allow: [404] });
}

/**
 * Creates every network, volume, image check and container of the cdk.tf.json. On any failure,
 * whatever was created is destroyed again and the error (with the daemon's message) is thrown.
 */
export async function apply(tfJsonPath: string, variables: Record<string, string>, options: ApplyOptions = {}): Promise<Handle> {
  const t0 = Date.now();
  const doc = JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as TfDoc;
  const res = doc.resource ?? {};

  // 1. Attributes: everything must be handled.
  const schemaErrors: string[] = [];
  for (const [type, rs] of Object.entries(res)) for (const [name, r] of Object.entries(rs)) schemaErrors.push(...checkSchema(type, name, r));
  if (schemaErrors.length) throw new Error(`cdk.tf.json has attributes the e2e applier does not handle:\n  ${schemaErrors.join("\n  ")}`);

  // 2. Variables: each declared one needs a value; no undeclared ones.
  const declared = Object.keys(doc.variable ?? {});
  const missing = declared.filter((v) => variables[v] === undefined && (doc.variable![v].default === undefined));
  if (missing.length) throw new Error(`no value for variable(s): ${missing.join(", ")}`);
  const extra = Object.keys(variables).filter((v) => !declared.includes(v));
  if (extra.length) throw new Error(`values given for undeclared variable(s): ${extra.join(", ")}`);
  const vars: Record<string, string> = {};
  for (const v of declared) vars[v] = variables[v] ?? String(doc.variable![v].default);
  for (const [v, decl] of Object.entries(doc.variable ?? {})) {
    for (const val of list(decl.validation)) {
      const m = /^\$\{can\(regex\("(.*)", var\.[\w-]+\)\)\}$/.exec(String(val.condition));
      if (m && !new RegExp(JSON.parse(`"${m[1]}"`) as string).test(vars[v])) throw new Error(`variable ${v}: ${val.error_message}`);
    }
  }

  const refs: Refs = { vars, networks: {}, images: {}, volumes: {} };
  const problems: TemplateProblem[] = [];
  const render = (type: string, name: string, r: Block): Block =>
    renderDeep(r, refs, (attribute, text, reason) => problems.push({ resource: `${type}.${name}`, attribute, text, reason }), "") as Block;

  if (!options.lenientTemplates) {
    const bad = templateProblems(tfJsonPath);
    if (bad.length) throw new Error(`Terraform would reject this cdk.tf.json (invalid templates):\n  ${bad.map(fmtProblem).join("\n  ")}`);
  }
  if (options.replaceLeftovers) await removeLeftovers(doc, vars);

  const handle: Handle = { tfJsonPath, containers: [], volumes: [], networks: [], templateProblems: problems, deviations: [], applyMs: 0, startedAt: t0 };
  const e2eLabels = { [E2E_LABEL]: "1" };
  try {
    // 3. Images: must exist locally (no registry); image_id is the local image id.
    for (const [name, raw] of Object.entries(res.docker_image ?? {})) {
      const r = render("docker_image", name, raw);
      const info = await request("GET", `/images/${encodeURIComponent(String(r.name))}/json`);
      if (info.status !== 200) throw new Error(`docker_image.${name}: image ${r.name} is not on the engine (ensureImages first): ${info.body.toString().trim()}`);
      refs.images[name] = (JSON.parse(info.body.toString()) as { Id: string }).Id;
    }
    // 4. Networks.
    for (const [name, raw] of Object.entries(res.docker_network ?? {})) {
      const r = render("docker_network", name, raw);
      const ipam = list(r.ipam_config).map((c) => ({
        ...(c.subnet ? { Subnet: String(c.subnet) } : {}),
        ...(c.gateway ? { Gateway: String(c.gateway) } : {}),
        ...(c.ip_range ? { IPRange: String(c.ip_range) } : {}),
        ...(c.aux_address ? { AuxiliaryAddresses: c.aux_address } : {}),
      }));
      const created = await call<{ Id: string }>("POST", "/networks/create", {
        Name: String(r.name),
        CheckDuplicate: true,
        Driver: String(r.driver ?? "bridge"),
        Internal: r.internal === true,
        Attachable: r.attachable === true,
        Options: r.options ?? {},
        IPAM: { Driver: "default", Config: ipam },
        Labels: { ...labelsMap(r.labels), ...e2eLabels },
      });
      handle.networks.push(created.Id);
      refs.networks[name] = String(r.name);
    }
    // 5. Volumes.
    for (const [name, raw] of Object.entries(res.docker_volume ?? {})) {
      const r = render("docker_volume", name, raw);
      await call("POST", "/volumes/create", {
        Name: String(r.name),
        Driver: String(r.driver ?? "local"),
        DriverOpts: r.driver_opts ?? {},
        Labels: { ...labelsMap(r.labels), ...e2eLabels },
      });
      handle.volumes.push(String(r.name));
      refs.volumes[name] = String(r.name);
    }
    // 6. Containers, in depends_on order: create, upload, start, must_run check.
    const cs = res.docker_container ?? {};
    for (const name of orderContainers(cs)) {
      const r = render("docker_container", name, cs[name]);
      const cname = String(r.name);
      const { body, extraNetworks } = containerSpec(r, e2eLabels);
      const ul = (body.HostConfig as { Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> }).Ulimits ?? [];
      for (const u of ul) {
        if (options.ulimitCap !== undefined && (u.Hard > options.ulimitCap || u.Soft > options.ulimitCap)) {
          handle.deviations.push(`${cname}: ulimit ${u.Name} ${u.Soft}/${u.Hard} clamped to ${options.ulimitCap}`);
          u.Soft = Math.min(u.Soft, options.ulimitCap);
          u.Hard = Math.min(u.Hard, options.ulimitCap);
        }
      }
      let created: { Id: string };
      try {
        created = await call<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(cname)}`, body);
      } catch (e) {
        throw new Error(`docker_container.${name} (${cname}): create failed: ${(e as Error).message}`);
      }
      handle.containers.push({ resource: name, name: cname, id: created.Id, startedAt: 0 });
      for (const n of extraNetworks) await call("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { Container: created.Id, EndpointConfig: n.cfg });
      const uploads = list(r.upload).map((u) => ({ path: String(u.file), content: String(u.content ?? ""), mode: u.executable === true ? 0o755 : 0o644 }));
      if (uploads.length) {
        try {
          await call("PUT", `/containers/${created.Id}/archive?path=/`, undefined, { raw: tar(uploads) });
        } catch (e) {
          throw new Error(`docker_container.${name} (${cname}): upload failed: ${(e as Error).message}`);
        }
      }
      try {
        await call("POST", `/containers/${created.Id}/start`);
      } catch (e) {
        throw new Error(`docker_container.${name} (${cname}): start failed: ${(e as Error).message}`);
      }
      handle.containers[handle.containers.length - 1].startedAt = Date.now();
      if (r.must_run !== false) {
        // The provider checks the container is running right after start.
        await sleep(500);
        const st = await inspect(created.Id);
        if (!st.State.Running) {
          throw new Error(`docker_container.${name} (${cname}): must_run but not running (exit ${st.State.ExitCode}, ${st.State.Error || "no error"}); logs:\n${(await logs(created.Id, 60)).combined}`);
        }
      }
    }
  } catch (e) {
    await destroy(handle).catch(() => undefined);
    throw e;
  }
  handle.applyMs = Date.now() - t0;
  return handle;
}

export const fmtProblem = (p: TemplateProblem) => `${p.resource} ${p.attribute}: ${JSON.stringify(p.text)} — ${p.reason}`;

/** Removes the containers (force), then volumes, then networks the handle created. Keeps images (cache). */
export async function destroy(handle: Handle): Promise<void> {
  const errors: string[] = [];
  for (const c of [...handle.containers].reverse()) {
    await call("DELETE", `/containers/${c.id}?force=1&v=1`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  }
  for (const v of handle.volumes) await call("DELETE", `/volumes/${encodeURIComponent(v)}?force=1`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  for (const n of handle.networks) await call("DELETE", `/networks/${n}`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  handle.containers = [];
  handle.volumes = [];
  handle.networks = [];
  if (errors.length) throw new Error(`destroy: ${errors.join("; ")}`);
}

// ---------------------------------------------------------------------------------------------
// observation

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until every container with a healthcheck is healthy (and every other one running). Gives up
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
      const ok = h ? h === "healthy" : i.State.Running;
      if (ok && healthyAt[c.name] === undefined) healthyAt[c.name] = Date.now() - handle.startedAt;
      if (!ok) allOk = false;
      if (i.RestartCount >= 3 || (i.State.Status === "exited" && i.HostConfig && (i.HostConfig as { RestartPolicy: { Name: string } }).RestartPolicy.Name === "no")) hopeless = true;
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
    if (h ? h.Status === "healthy" : i.State.Running) continue;
    out.push(
      `=== ${c.name} (${c.resource}): ${i.State.Status}${h ? `/${h.Status}` : ""}, exit ${i.State.ExitCode}, restarts ${i.RestartCount}${i.State.OOMKilled ? ", OOM-killed" : ""}${i.State.Error ? `, error: ${i.State.Error}` : ""}`,
    );
    for (const l of (h?.Log ?? []).slice(-2)) out.push(`  health check exit ${l.ExitCode}: ${l.Output.trim().slice(0, 600)}`);
    out.push(`  log tail:\n${(await logs(c.id, 40)).combined.replace(/^/gm, "    ")}`);
  }
  return out.join("\n");
}

/** A random value of 24 characters of [A-Za-z0-9_-] for each declared variable. */
export function generateVariables(tfJsonPath: string): Record<string, string> {
  const doc = JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as TfDoc;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { randomBytes } = require("node:crypto") as typeof import("node:crypto");
  return Object.fromEntries(Object.keys(doc.variable ?? {}).map((v) => [v, randomBytes(18).toString("base64url")]));
}

export { SOCKET as ENGINE_SOCKET };
