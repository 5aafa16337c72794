/**
 * Where each component's containers go: their keys (container names without the stack prefix)
 * and their address index inside the component's block. The planners place containers with
 * these, and WS-NET-COLLISIONS checks them without planning, so a capacity probe that adds a node
 * sees its new containers at no cost.
 */
import { HOSTS_PER_BLOCK } from "./network";
import type { ComponentModel, DatabaseModel, MonitoringModel, Topology, WebTierModel, WorkerTierModel } from "./topology";

export interface Slot {
  readonly key: string;
  /** Address index in the component's block (see network.ts). */
  readonly index: number;
}

/** The pooler sits at the end of its database's address block, so adding replicas never moves it. */
export const POOLER_INDEX = HOSTS_PER_BLOCK - 1;

/**
 * A web tier's release container (when it has release steps) sits at the end of its block, as the
 * pooler does, so adding nodes never moves it; nodes reach it only past the block's 245 addresses,
 * which WS-NET-COLLISIONS refuses anyway.
 */
export function releaseSlot(tier: WebTierModel): Slot | undefined {
  return tier.settings.release.length > 0 ? { key: `${tier.id}-release`, index: HOSTS_PER_BLOCK - 1 } : undefined;
}

/** Web node `n` (0-based): nginx at index 2n, the app server at 2n+1. */
export function webNodeSlots(tier: WebTierModel, n: number): { node: string; app: Slot; nginx: Slot } {
  const node = `${tier.id}-${n + 1}`;
  return { node, app: { key: `${node}-app`, index: 2 * n + 1 }, nginx: { key: `${node}-nginx`, index: 2 * n } };
}

/** The pooler's router (failover with a pooler) sits below the largest etcd cluster (7 members), so changing etcdMembers never moves it. */
export const POOLER_ROUTER_INDEX = POOLER_INDEX - 8;

/**
 * With failover, "primary" is the member that bootstraps first, not the lasting leader. The etcd
 * members sit below the pooler's index, from the end of the block, so adding replicas never moves them.
 */
export function databaseSlots(db: DatabaseModel): { primary: Slot; pooler?: Slot; router?: Slot; replicas: Slot[]; etcd: Slot[] } {
  const f = db.settings.failover;
  return {
    primary: { key: `${db.id}-primary`, index: 0 },
    pooler: db.settings.pooler ? { key: `${db.id}-pooler`, index: POOLER_INDEX } : undefined,
    router: db.settings.pooler && f ? { key: `${db.id}-pooler-router`, index: POOLER_ROUTER_INDEX } : undefined,
    replicas: Array.from({ length: db.settings.replicas }, (_, i) => ({ key: `${db.id}-replica-${i + 1}`, index: i + 1 })),
    etcd: f ? Array.from({ length: f.etcdMembers }, (_, i) => ({ key: `${db.id}-etcd-${i + 1}`, index: POOLER_INDEX - 1 - i })) : [],
  };
}

/** Workers first, then beat and Flower, each at the next index. */
export function workerSlots(tier: WorkerTierModel): { workers: Slot[]; beat?: Slot; flower?: Slot } {
  const s = tier.settings;
  const workers = Array.from({ length: s.nodes }, (_, n) => ({ key: `${tier.id}-${n + 1}`, index: n }));
  const beat = s.beat ? { key: `${tier.id}-beat`, index: workers.length } : undefined;
  const flower = s.flower ? { key: `${tier.id}-flower`, index: workers.length + (beat ? 1 : 0) } : undefined;
  return { workers, beat, flower };
}

/** An exporter of the Monitoring component, beside the container it reads. */
export interface ExporterSlot extends Slot {
  readonly exporter: "postgres" | "redis" | "nginx" | "elasticsearch";
  /** The component and container it reads. */
  readonly target: ComponentModel;
  readonly targetKey: string;
}

/**
 * A daemon the stats exporter probes (Debian 12 packages no exporter for the first two, and none that
 * reads PgBouncer 1.18): uWSGI's stats server on each web node's app container, memcached, and each
 * database's PgBouncer (its admin console).
 */
export interface ProbedSlot {
  readonly module: "uwsgi" | "memcached" | "pgbouncer";
  readonly target: ComponentModel;
  readonly targetKey: string;
}

/** The stats exporter sits at the end of the block, as a pooler does, so it never moves the other exporters. */
export const STATS_EXPORTER_INDEX = HOSTS_PER_BLOCK - 1;

/**
 * A search cluster's exporter sits below the stats exporter, from the end of the block, one per
 * cluster, so adding it never moves the exporters laid out from the front.
 */
const SEARCH_EXPORTER_FIRST_INDEX = STATS_EXPORTER_INDEX - 1;

/** The first address index of the exporters: Prometheus, the blackbox prober and Alertmanager come first. */
const FIRST_EXPORTER_INDEX = 3;

/**
 * Prometheus, the blackbox prober, Alertmanager when asked for, one exporter per container whose
 * daemon has no metrics endpoint of its own (PostgreSQL, Redis, nginx), in construct order, one
 * elasticsearch_exporter per search cluster (it reads the cluster's health through its first node), and one
 * stats exporter for the uWSGI, memcached and PgBouncer daemons it probes. HAProxy and RabbitMQ serve their own
 * metrics and need none.
 */
export function monitoringSlots(m: MonitoringModel, t: Topology): MonitoringSlots {
  let laid = monitoringCache.get(t);
  if (laid?.path !== m.path) {
    laid = { path: m.path, slots: layMonitoringSlots(m, t) };
    monitoringCache.set(t, laid);
  }
  return laid.slots;
}

export interface MonitoringSlots {
  readonly prometheus: Slot;
  readonly blackbox: Slot;
  readonly alertmanager?: Slot;
  readonly exporters: readonly ExporterSlot[];
  /** One for the whole stack: every container's memory (its cgroup), and uWSGI, memcached and PgBouncer when it has them. */
  readonly statsExporter: Slot;
  readonly probed: readonly ProbedSlot[];
}

/**
 * The Monitoring component's slots follow the whole topology, and a synth asks for them once per
 * exporter it plans and once per rule that counts them; a capacity probe is a new topology, so it
 * lays them out once for all the rules it runs. (Topologies are never changed once made.)
 */
const monitoringCache = new WeakMap<Topology, { path: string; slots: MonitoringSlots }>();

function layMonitoringSlots(m: MonitoringModel, t: Topology): MonitoringSlots {
  const targets: Omit<ExporterSlot, "key" | "index">[] = [];
  const probed: ProbedSlot[] = [];
  const searches: ExporterSlot[] = [];
  for (const c of t.components) {
    if (c.kind === "searchCluster") {
      searches.push({ exporter: "elasticsearch", target: c, targetKey: componentSlots(c)[0].key, key: `${c.id}-exporter`, index: SEARCH_EXPORTER_FIRST_INDEX - searches.length });
    }
    if (c.kind === "database") {
      const d = databaseSlots(c);
      for (const slot of [d.primary, ...d.replicas]) targets.push({ exporter: "postgres", target: c, targetKey: slot.key });
      if (d.pooler) probed.push({ module: "pgbouncer", target: c, targetKey: d.pooler.key });
    } else if ((c.kind === "cache" || c.kind === "queue") && c.settings.engine === "redis") {
      targets.push({ exporter: "redis", target: c, targetKey: c.id });
    } else if (c.kind === "webTier") {
      for (let n = 0; n < c.settings.nodes; n++) targets.push({ exporter: "nginx", target: c, targetKey: webNodeSlots(c, n).nginx.key });
      if (c.settings.server === "uwsgi") for (let n = 0; n < c.settings.nodes; n++) probed.push({ module: "uwsgi", target: c, targetKey: webNodeSlots(c, n).app.key });
    }
    if (c.kind === "cache" && c.settings.engine === "memcached") probed.push({ module: "memcached", target: c, targetKey: c.id });
  }
  return {
    prometheus: { key: `${m.id}-prometheus`, index: 0 },
    blackbox: { key: `${m.id}-blackbox`, index: 1 },
    alertmanager: m.settings.alertmanager ? { key: `${m.id}-alertmanager`, index: 2 } : undefined,
    exporters: [...targets.map((x, i) => ({ ...x, key: `${x.targetKey}-exporter`, index: FIRST_EXPORTER_INDEX + i })), ...searches],
    statsExporter: { key: `${m.id}-stats-exporter`, index: STATS_EXPORTER_INDEX },
    probed,
  };
}

/**
 * Every other component's slots follow its id and settings alone: cached by its settings object,
 * which a capacity probe shares with the stack for every component but the one it turns.
 */
const slotCache = new WeakMap<object, { id: string; slots: readonly Slot[] }>();

/** Every container slot of a component, in plan order (the Monitoring component's follow the topology `t`). */
export function componentSlots(c: ComponentModel, t?: Topology): readonly Slot[] {
  if (c.kind === "monitoring") {
    if (!t) throw new Error("internal: the Monitoring component's slots follow the topology");
    const m = monitoringSlots(c, t);
    return [m.prometheus, m.blackbox, ...(m.alertmanager ? [m.alertmanager] : []), ...m.exporters, m.statsExporter];
  }
  let laid = slotCache.get(c.settings);
  if (laid?.id !== c.id) {
    laid = { id: c.id, slots: laySlots(c) };
    slotCache.set(c.settings, laid);
  }
  return laid.slots;
}

function laySlots(c: Exclude<ComponentModel, MonitoringModel>): Slot[] {
  switch (c.kind) {
    case "webTier": {
      const release = releaseSlot(c);
      return [...(release ? [release] : []), ...Array.from({ length: c.settings.nodes }, (_, n) => webNodeSlots(c, n)).flatMap((s) => [s.app, s.nginx])];
    }
    case "workerTier": {
      const w = workerSlots(c);
      return [...w.workers, ...(w.beat ? [w.beat] : []), ...(w.flower ? [w.flower] : [])];
    }
    case "database": {
      const d = databaseSlots(c);
      // With failover the members come first, then the router and the pooler in front of them.
      if (c.settings.failover) return [...d.etcd, d.primary, ...d.replicas, ...(d.router ? [d.router] : []), ...(d.pooler ? [d.pooler] : [])];
      return [...d.etcd, d.primary, ...(d.pooler ? [d.pooler] : []), ...d.replicas];
    }
    case "searchCluster":
      return Array.from({ length: c.settings.nodes }, (_, i) => ({ key: `${c.id}-${i + 1}`, index: i }));
    default:
      return [{ key: c.id, index: 0 }];
  }
}

/** Address blocks in construct order: block 0 is the gateway's. */
export function addressBlocks(t: Topology): Map<string, number> {
  return new Map(t.components.map((c, i) => [c.path, i + 1]));
}
