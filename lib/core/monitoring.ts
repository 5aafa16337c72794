/**
 * What the Monitoring component adds to the rest of the stack, in one place: its ports, the
 * connections its exporters open (counted by the client rules), and the `application_name` each
 * tier connects under once the stack is monitored, so `pg_stat_activity` shows which tier holds
 * which connections and the alerts can compare each tier with its budgeted share.
 */
import { componentsOf, type MonitoringModel, type Topology, type WebTierModel, type WorkerTierModel } from "./topology";

export const PROMETHEUS_PORT = 9090;
export const ALERTMANAGER_PORT = 9093;
export const BLACKBOX_PORT = 9115;
export const POSTGRES_EXPORTER_PORT = 9187;
export const REDIS_EXPORTER_PORT = 9121;
export const NGINX_EXPORTER_PORT = 9113;
export const ELASTICSEARCH_EXPORTER_PORT = 9114;
/**
 * elasticsearch_exporter's time limit on each request to the cluster (`--es.timeout`): 5 s, and a
 * second under Prometheus' scrape timeout (the interval, at most 10 s) when that is shorter, so a
 * hung node shows as `elasticsearch_cluster_health_up` 0 rather than as a failed scrape.
 */
export function elasticsearchExporterTimeoutSeconds(m: MonitoringModel): number {
  return Math.max(1, Math.min(5, Math.min(10, m.settings.scrapeIntervalSeconds) - 1));
}
/** The stats exporter (uWSGI's stats server, memcached), a script of ours: blackbox's port + 2, free in every exporter list. */
export const STATS_EXPORTER_PORT = 9117;
/** nginx's `stub_status`, on a listener of its own that only the node's exporter may use. */
export const NGINX_STUB_STATUS_PORT = 8081;

/**
 * postgres_exporter 0.11 holds two connections to its server: one kept by its built-in metrics, and
 * one its collectors (pg_database, bgwriter) open for each scrape (measured in the daemon suite: with
 * a limit of one, every scrape's second connection was refused). Its role's CONNECTION LIMIT makes
 * the server enforce the figure the budget counts.
 */
export const POSTGRES_EXPORTER_CONNECTIONS = 2;
/** redis_exporter opens one connection per scrape and keeps it. */
export const REDIS_EXPORTER_CONNECTIONS = 1;
/** The stats exporter opens one connection to memcached per scrape and closes it after `stats`. */
export const STATS_EXPORTER_MEMCACHED_CONNECTIONS = 1;
/**
 * The stats exporter opens one connection to a PgBouncer's admin console per scrape and closes it
 * after its three SHOW commands; PgBouncer counts it against max_client_conn as any client.
 */
export const STATS_EXPORTER_PGBOUNCER_CONNECTIONS = 1;
/** The PostgreSQL role postgres_exporter logs in as (member of pg_monitor). */
export const EXPORTER_ROLE = "exporter";

/** The stack's Monitoring component, if it has one (a second is refused at construction). */
export function monitoringOf(t: Topology): MonitoringModel | undefined {
  return componentsOf(t, "monitoring")[0];
}

/**
 * The `application_name` a tier's processes connect with: the tier's id, and `<id>-beat` for the
 * beat scheduler of a worker tier. Set only in monitored stacks, so the URLs of the others stay as
 * they were.
 */
export function applicationName(t: Topology, tier: WebTierModel | WorkerTierModel, beat = false): string | undefined {
  if (!monitoringOf(t)) return undefined;
  return beat ? `${tier.id}-beat` : tier.id;
}

/** Memory limit of each exporter container and of the blackbox prober; their Go processes stay far below. */
export const EXPORTER_MEMORY_MIB = 64;
/** Prometheus beside its samples: the Go runtime, the rule engine, the web UI. */
export const PROMETHEUS_BASE_MIB = 128;
/**
 * Head-block memory per target: about 1,000 active series (HAProxy's per-server metrics, an
 * exporter's default collectors) at about 4 KiB each, chunks and index included.
 */
export const PROMETHEUS_MIB_PER_TARGET = 4;

/** Prometheus' expected memory for `targets` scrape targets. */
export function prometheusMemoryEstimateMiB(targets: number): number {
  return PROMETHEUS_BASE_MIB + targets * PROMETHEUS_MIB_PER_TARGET;
}

/** The container's limit: the prop, else the estimate with a quarter of headroom, rounded up to 64 MiB. */
export function prometheusMemoryMiB(m: MonitoringModel, targets: number): number {
  return m.settings.memoryMiB ?? Math.ceil((prometheusMemoryEstimateMiB(targets) * 1.25) / 64) * 64;
}

/**
 * Prometheus' scrape targets: itself, each load balancer twice (HAProxy's endpoint and the blackbox
 * probe through it), each exporter, each daemon the stats exporter probes (a uWSGI node, memcached, a PgBouncer),
 * each RabbitMQ node twice (aggregated, and per queue), each Flower, Alertmanager, and the stats
 * exporter's own page of every container's memory (one target, `containers`).
 */
export function monitoringTargetCount(t: Topology, exporters: number, alertmanager: boolean, probed: number): number {
  const lbs = componentsOf(t, "loadBalancer").length;
  const rabbits = componentsOf(t, "queue").filter((q) => q.settings.engine === "rabbitmq").length;
  const flowers = componentsOf(t, "workerTier").filter((w) => w.settings.flower).length;
  return 1 + 2 * lbs + exporters + probed + 2 * rabbits + flowers + (alertmanager ? 1 : 0) + 1;
}
