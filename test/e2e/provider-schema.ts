/**
 * kreuzwerker/docker 3.6.2 as far as the e2e applier implements it: which attributes of each resource
 * are known (anything else fails the apply by name, so nothing in the JSON is silently ignored; "//"
 * metadata is skipped) and what the known ones mean in Engine API terms. Both live here because adding
 * an attribute to SCHEMA means mapping it in containerSpec.
 */
import { checkSwarmSchema } from "./service-schema";
import { labelsMap, list, type Block } from "./tf-json";

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
      "read_only", "init", "attach", "lifecycle", "cgroup_parent",
    ],
    nested: {
      healthcheck: ["test", "interval", "timeout", "start_period", "retries"],
      labels: ["label", "value"],
      networks_advanced: ["name", "ipv4_address", "aliases"],
      ports: ["internal", "external", "ip", "protocol"],
      ulimit: ["name", "soft", "hard"],
      upload: ["file", "content", "executable"],
      volumes: ["volume_name", "host_path", "container_path", "read_only"],
    },
  },
};

/** Attributes only the provider sets (read after create, e.g. in a postcondition as self.exit_code). */
const COMPUTED_ONLY: Record<string, string[]> = { docker_container: ["exit_code", "container_logs", "network_data", "id"] };

/** One message per attribute (or resource type) the applier does not handle; empty when it handles all. */
export function checkSchema(type: string, name: string, r: Block): string[] {
  const swarm = checkSwarmSchema(type, name, r);
  if (swarm) return swarm;
  const s = SCHEMA[type];
  if (!s) return [`${type}.${name}: resource type ${type} is not handled by the e2e applier`];
  const errs: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (k === "//") continue;
    if (COMPUTED_ONLY[type]?.includes(k)) {
      errs.push(`${type}.${name}: attribute "${k}" is computed by the provider and cannot be set (Terraform refuses it)`);
      continue;
    }
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

/**
 * The Engine API create body of a rendered docker_container. Engines before API 1.44 take one network
 * endpoint at create, so the others are returned, to be connected after create.
 */
export function containerSpec(r: Block, e2eLabels: Record<string, string>): { body: Record<string, unknown>; extraNetworks: Array<{ name: string; cfg: unknown }> } {
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
    Mounts: list(r.volumes)
      .filter((v) => v.host_path === undefined)
      .map((v) => ({
        Type: "volume",
        Source: String(v.volume_name),
        Target: String(v.container_path),
        ReadOnly: v.read_only === true,
      })),
    // The provider turns a host_path into a bind, `host:container:ro|rw` (Docker binds are recursive).
    Binds: list(r.volumes)
      .filter((v) => v.host_path !== undefined)
      .map((v) => `${String(v.host_path)}:${String(v.container_path)}:${v.read_only === true ? "ro" : "rw"}`),
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
  if (r.cgroup_parent !== undefined) hostConfig.CgroupParent = String(r.cgroup_parent);

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
