/**
 * kreuzwerker/docker 3.6.2's docker_service, docker_config and docker_secret as far as the e2e applier
 * implements them: the attribute tree it knows (anything else fails the apply by name) and what each
 * known attribute means in Engine API terms (ServiceSpec, ConfigSpec, SecretSpec), as the provider's
 * resource_docker_service_structures.go maps them.
 */
import { durationNs } from "./provider-schema";
import { labelsMap, list, type Block, type Json } from "./tf-json";

/** An attribute tree: a leaf is true, a nested block its own tree. */
type Shape = { [k: string]: true | Shape };

const HEALTHCHECK: Shape = { test: true, interval: true, timeout: true, start_period: true, retries: true };
const FILE_REF: Shape = { file_name: true, file_uid: true, file_gid: true, file_mode: true };
const ROLL: Shape = { parallelism: true, delay: true, failure_action: true, monitor: true, max_failure_ratio: true, order: true };

const SERVICE: Shape = {
  name: true,
  depends_on: true,
  labels: { label: true, value: true },
  mode: { replicated: { replicas: true }, global: true },
  converge_config: { delay: true, timeout: true },
  update_config: ROLL,
  rollback_config: ROLL,
  endpoint_spec: { mode: true, ports: { name: true, protocol: true, target_port: true, published_port: true, publish_mode: true } },
  task_spec: {
    container_spec: {
      image: true, command: true, args: true, hostname: true, env: true, dir: true, user: true, stop_grace_period: true, stop_signal: true, sysctl: true,
      labels: { label: true, value: true },
      healthcheck: HEALTHCHECK,
      configs: { config_id: true, config_name: true, ...FILE_REF },
      secrets: { secret_id: true, secret_name: true, ...FILE_REF },
      mounts: { target: true, source: true, type: true, read_only: true },
    },
    networks_advanced: { name: true, aliases: true },
    placement: { constraints: true, prefs: true, max_replicas: true },
    resources: { limits: { memory_bytes: true, nano_cpus: true }, reservation: { memory_bytes: true, nano_cpus: true } },
    restart_policy: { condition: true, delay: true, max_attempts: true, window: true },
    log_driver: { name: true, options: true },
  },
};

/** Blocks whose values are maps (any key), not nested blocks. */
const MAPS = new Set(["env", "sysctl", "options"]);

function walk(type: string, name: string, at: string, v: Json, shape: Shape, errs: string[]): void {
  for (const item of list(v)) {
    if (!item || typeof item !== "object" || Array.isArray(item)) continue;
    for (const [k, x] of Object.entries(item)) {
      if (k === "//") continue;
      const path = at ? `${at}.${k}` : k;
      const sub = shape[k];
      if (sub === undefined) errs.push(`${type}.${name}: attribute "${path}" is not handled by the e2e applier`);
      else if (sub !== true && !MAPS.has(k)) walk(type, name, path, x, sub, errs);
    }
  }
}

/** One message per attribute of a swarm resource the applier does not handle (lifecycle is lifecycle.ts's). */
export function checkSwarmSchema(type: string, name: string, r: Block): string[] | undefined {
  const shape: Shape | undefined =
    type === "docker_service" ? SERVICE : type === "docker_config" || type === "docker_secret" ? { name: true, data: true, labels: { label: true, value: true }, depends_on: true } : undefined;
  if (!shape) return undefined;
  const errs: string[] = [];
  const { lifecycle: _l, ...rest } = r;
  walk(type, name, "", rest, shape, errs);
  return errs;
}

const one = (v: Json | undefined): Block | undefined => list(v)[0];
const ns = (v: Json | undefined) => (v === undefined || v === null ? undefined : durationNs(String(v)));
const num = (v: Json | undefined) => (v === undefined || v === null ? undefined : Number(v));

function fileRef(x: Block, mode: number) {
  return { Name: String(x.file_name), UID: String(x.file_uid ?? "0"), GID: String(x.file_gid ?? "0"), Mode: Number(x.file_mode ?? mode) };
}

function roll(v: Json | undefined) {
  const u = one(v);
  if (!u) return undefined;
  return {
    Parallelism: num(u.parallelism) ?? 1,
    Delay: ns(u.delay) ?? 0,
    FailureAction: String(u.failure_action ?? "pause"),
    Monitor: ns(u.monitor) ?? 5e9,
    MaxFailureRatio: Number(u.max_failure_ratio ?? 0),
    Order: String(u.order ?? "stop-first"),
  };
}

/**
 * The Engine API ServiceSpec of a rendered docker_service (references already resolved): the provider's
 * defaults where it has them (file modes 0444, uid/gid "0", restart condition any).
 */
export function serviceSpec(r: Block, e2eLabels: Record<string, string>): Record<string, unknown> {
  const task = one(r.task_spec)!;
  const c = one(task.container_spec)!;
  const hc = one(c.healthcheck);
  const mode = one(r.mode);
  const replicated = one(mode?.replicated);
  const placement = one(task.placement);
  const limits = one(one(task.resources)?.limits);
  const reservation = one(one(task.resources)?.reservation);
  const restart = one(task.restart_policy);
  const log = one(task.log_driver);
  const endpoint = one(r.endpoint_spec);
  return {
    Name: String(r.name),
    Labels: { ...labelsMap(r.labels), ...e2eLabels },
    TaskTemplate: {
      ContainerSpec: {
        Image: String(c.image),
        Labels: labelsMap(c.labels),
        Command: c.command === undefined ? undefined : list<string>(c.command).map(String),
        Args: c.args === undefined ? undefined : list<string>(c.args).map(String),
        Hostname: c.hostname === undefined ? undefined : String(c.hostname),
        Env: Object.entries((c.env ?? {}) as Block).map(([k, v]) => `${k}=${String(v)}`),
        Dir: c.dir === undefined ? undefined : String(c.dir),
        User: c.user === undefined ? undefined : String(c.user),
        Mounts: list(c.mounts).map((m) => ({ Type: String(m.type), Source: m.source === undefined ? undefined : String(m.source), Target: String(m.target), ReadOnly: m.read_only === true })),
        StopGracePeriod: ns(c.stop_grace_period),
        StopSignal: c.stop_signal === undefined ? undefined : String(c.stop_signal),
        Healthcheck: hc
          ? { Test: list<string>(hc.test).map(String), Interval: ns(hc.interval) ?? 0, Timeout: ns(hc.timeout) ?? 0, StartPeriod: ns(hc.start_period) ?? 0, Retries: num(hc.retries) ?? 0 }
          : undefined,
        Configs: list(c.configs).map((x) => ({ File: fileRef(x, 0o444), ConfigID: String(x.config_id), ConfigName: String(x.config_name) })),
        Secrets: list(c.secrets).map((x) => ({ File: fileRef(x, 0o444), SecretID: String(x.secret_id), SecretName: String(x.secret_name) })),
        Sysctls: c.sysctl ? Object.fromEntries(Object.entries(c.sysctl as Block).map(([k, v]) => [k, String(v)])) : undefined,
      },
      Resources: {
        Limits: limits ? { MemoryBytes: num(limits.memory_bytes), NanoCPUs: num(limits.nano_cpus) } : undefined,
        Reservations: reservation ? { MemoryBytes: num(reservation.memory_bytes), NanoCPUs: num(reservation.nano_cpus) } : undefined,
      },
      RestartPolicy: restart
        ? { Condition: String(restart.condition ?? "any"), Delay: ns(restart.delay), MaxAttempts: num(restart.max_attempts), Window: ns(restart.window) }
        : undefined,
      Placement: placement
        ? {
            Constraints: list<string>(placement.constraints).map(String),
            Preferences: list<string>(placement.prefs).map((p) => {
              const m = /^spread=(.+)$/.exec(String(p));
              if (!m) throw new Error(`docker_service ${String(r.name)}: placement pref "${String(p)}" is not spread=<label>, the only form the provider has`);
              return { Spread: { SpreadDescriptor: m[1] } };
            }),
            MaxReplicas: num(placement.max_replicas),
          }
        : undefined,
      Networks: list(task.networks_advanced).map((n) => ({ Target: String(n.name), Aliases: list<string>(n.aliases).map(String) })),
      LogDriver: log ? { Name: String(log.name), Options: Object.fromEntries(Object.entries((log.options ?? {}) as Block).map(([k, v]) => [k, String(v)])) } : undefined,
    },
    Mode: mode?.global === true ? { Global: {} } : { Replicated: { Replicas: num(replicated?.replicas) ?? 1 } },
    UpdateConfig: roll(r.update_config),
    RollbackConfig: roll(r.rollback_config),
    EndpointSpec: endpoint
      ? {
          Mode: String(endpoint.mode ?? "vip"),
          Ports: list(endpoint.ports).map((p) => ({
            Name: p.name === undefined ? undefined : String(p.name),
            Protocol: String(p.protocol ?? "tcp"),
            TargetPort: Number(p.target_port),
            PublishedPort: num(p.published_port),
            PublishMode: String(p.publish_mode ?? "ingress"),
          })),
        }
      : undefined,
  };
}

/** converge_config: how long the provider waits before and at most for the service's tasks to run (ms). */
export function convergence(r: Block): { delayMs: number; timeoutMs: number } | undefined {
  const c = one(r.converge_config);
  if (!c) return undefined;
  return { delayMs: (ns(c.delay) ?? 7e9) / 1e6, timeoutMs: (ns(c.timeout) ?? 180e9) / 1e6 };
}

/** The replicas a converged service runs. */
export function wantedReplicas(r: Block): number {
  return num(one(one(r.mode)?.replicated)?.replicas) ?? 1;
}
