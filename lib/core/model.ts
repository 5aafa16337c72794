/**
 * The cluster plan: every Docker object the stack needs, fully rendered, framework-free.
 * The cdktf layer turns it into provider resources; the output layer writes its files to disk.
 */
import type { Placement, SwarmTarget } from "./placement";
import type { SecretSpec } from "./secrets";

export interface FileSpec {
  /** Absolute path inside the container. */
  readonly path: string;
  readonly content: string;
  readonly executable: boolean;
}

export interface HealthCheckSpec {
  /** Docker form: `["CMD", ...]` or `["CMD-SHELL", "..."]`; `["NONE"]` runs none (see its planner for why). */
  readonly test: readonly string[];
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly startPeriodSeconds: number;
}

export interface PortSpec {
  readonly containerPort: number;
  readonly hostPort: number;
  readonly hostIp: string;
}

export interface MountSpec {
  /** Volume key in the plan. */
  readonly volume: string;
  readonly path: string;
  readonly readOnly: boolean;
}

export type ContainerRole =
  | "haproxy"
  | "nginx"
  | "uwsgi"
  | "gunicorn"
  | "celery-worker"
  | "celery-beat"
  | "release"
  | "flower"
  | "postgres-primary"
  | "postgres-replica"
  | "pgbouncer"
  | "pg-router"
  | "postgres-patroni"
  | "etcd"
  | "redis"
  | "memcached"
  | "rabbitmq"
  | "elasticsearch"
  | "opensearch"
  | "prometheus"
  | "blackbox-exporter"
  | "alertmanager"
  | "postgres-exporter"
  | "redis-exporter"
  | "nginx-exporter"
  | "elasticsearch-exporter"
  | "stats-exporter";

export interface ContainerSpec {
  /** Unique, stable key: the output folder and the Terraform resource id. */
  readonly key: string;
  /** Docker container name (prefixed). */
  readonly name: string;
  readonly constructPath: string;
  readonly role: ContainerRole;
  readonly image: string;
  readonly command: readonly string[];
  readonly user?: string;
  readonly workingDir?: string;
  /** Values may hold secret placeholders. Sorted by name when emitted. */
  readonly env: Readonly<Record<string, string>>;
  readonly address: string;
  /** DNS names on the stack network besides the container name. */
  readonly aliases: readonly string[];
  /** Ports the container listens on, for the collision check and the report. */
  readonly listens: readonly { readonly port: number; readonly purpose: string }[];
  /** Host ports; only load balancers have any. */
  readonly publishes: readonly PortSpec[];
  readonly files: readonly FileSpec[];
  readonly mounts: readonly MountSpec[];
  /** Host paths bind-mounted read-only (the stats exporter's view of the host's cgroup tree). @default none */
  readonly hostMounts?: readonly { readonly hostPath: string; readonly path: string }[];
  /**
   * Docker's cgroup parent: set in a monitored stack on one engine, so the container's cgroup path
   * carries its name (plan/cgroups.ts). @default the engine's (`/docker`, `system.slice`)
   */
  readonly cgroupParent?: string;
  readonly memoryMiB: number;
  /** CPU limit (Docker `--cpus`); none when absent. */
  readonly cpus?: number;
  readonly healthcheck: HealthCheckSpec;
  readonly sysctls: Readonly<Record<string, string>>;
  readonly ulimits: readonly { readonly name: string; readonly soft: number; readonly hard: number }[];
  /** Keys of containers this one needs running first (its database, broker, upstream). */
  readonly dependsOn: readonly string[];
  /** Seconds Docker waits after the stop signal before killing. */
  readonly stopTimeoutSeconds: number;
  /** The signal that stops the daemon gracefully, when not SIGTERM (set on a swarm only, where updates roll). */
  readonly stopSignal?: string;
  /**
   * A one-shot container (release steps): it runs to its end instead of being kept running, the
   * deploy waits for that, and fails with `failureMessage` when it exits non-zero. Absent: a service.
   */
  readonly oneShot?: { readonly failureMessage: string };
  /** On a swarm target: the service this container is a replica of, and where it may run. */
  readonly placement?: Placement;
}

export interface VolumeSpec {
  readonly key: string;
  readonly name: string;
  readonly constructPath: string;
}

export interface ClusterPlan {
  readonly network: { readonly name: string; readonly subnet: string; readonly gateway: string };
  readonly volumes: readonly VolumeSpec[];
  readonly containers: readonly ContainerSpec[];
  readonly secrets: readonly SecretSpec[];
  /** Set when the stack targets a Docker Swarm (each container then has its placement). */
  readonly target?: SwarmTarget;
}
