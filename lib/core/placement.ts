/**
 * Placement on a Docker Swarm: which service each planned container is a replica of, and which
 * hosts may carry it. Framework-free; the swarm target turns it into `docker_service` placement.
 *
 * - Stateless containers of one kind in a component (a web tier's app servers, its nginx nodes, a
 *   worker tier's workers) are the replicas of one service, spread over the hosts of their role.
 * - Stateful members (each PostgreSQL primary and standby, with failover each Patroni member and each
 *   etcd member, Redis, RabbitMQ, memcached, each search node) are a service of one replica each,
 *   pinned by the node label `webstack.host` to one host of the `data` role: member i of a component
 *   goes to the (offset + i)-th data host, so the members of one PostgreSQL cluster land on different
 *   hosts while there are enough of them (WS-SWARM-PG-SPREAD checks it), and their volumes stay on
 *   that host. A database's etcd members are counted apart from its PostgreSQL members: etcd member j
 *   goes to the (offset + j)-th data host, so no two of them share a host either.
 * - Load balancers run on `edge` hosts and publish their ports in host mode.
 */
import { PropsError } from "./errors";
import { componentSlots, databaseSlots, releaseSlot, webNodeSlots, workerSlots, type Slot } from "./layout";
import type { HostRole, SwarmHost, SwarmTarget } from "./schemas/target";
import type { ComponentModel, Topology } from "./topology";

export type { HostRole, SwarmHost, SwarmTarget } from "./schemas/target";

/** The node label every host gets for its name, and the prefix of its role labels. */
export const HOST_LABEL = "webstack.host";
export const roleLabel = (role: HostRole) => `webstack.${role}`;

export interface Placement {
  /** Service key (its Docker name without the stack prefix); its replicas are equal but for key and name. */
  readonly service: string;
  /** 0-based replica index of this container in its service. */
  readonly replica: number;
  /** The role a host needs to carry the service. */
  readonly role: Exclude<HostRole, "manager">;
  /** Set for a stateful member: the one host it runs on (its volumes live there). */
  readonly host?: string;
  /** Node labels a host must have, all of them (`webstack.host=db-1`, `webstack.app=true`). */
  readonly constraints: Readonly<Record<string, string>>;
  /** Most replicas of the service on one host; spread over the allowed hosts. Absent for pinned members. */
  readonly maxReplicasPerNode?: number;
  /** Never two tasks at once (Celery beat: two send every periodic task twice; a release): updates stop the old one first. */
  readonly exclusive?: boolean;
}

/** What a component's slot is on a swarm: the service it belongs to and the role of its hosts. */
interface SlotService {
  readonly service: string;
  readonly replica: number;
  readonly role: Placement["role"];
  /** Index of a stateful member in its component (pinned to a host), undefined for stateless. */
  readonly member?: number;
  readonly exclusive?: boolean;
}

function slotServices(c: ComponentModel): Map<string, SlotService> {
  const out = new Map<string, SlotService>();
  const put = (slot: Slot | undefined, s: SlotService) => slot && out.set(slot.key, s);
  switch (c.kind) {
    case "webTier":
      // Two releases at once would run the same migrations concurrently.
      put(releaseSlot(c), { service: `${c.id}-release`, replica: 0, role: "app", exclusive: true });
      for (let n = 0; n < c.settings.nodes; n++) {
        const slots = webNodeSlots(c, n);
        put(slots.app, { service: `${c.id}-app`, replica: n, role: "app" });
        put(slots.nginx, { service: `${c.id}-nginx`, replica: n, role: "app" });
      }
      break;
    case "workerTier": {
      const w = workerSlots(c);
      w.workers.forEach((slot, n) => put(slot, { service: c.id, replica: n, role: "app" }));
      put(w.beat, { service: w.beat?.key ?? "", replica: 0, role: "app", exclusive: true });
      put(w.flower, { service: w.flower?.key ?? "", replica: 0, role: "app" });
      break;
    }
    case "database": {
      const d = databaseSlots(c);
      [d.primary, ...d.replicas].forEach((slot, i) => put(slot, { service: slot.key, replica: 0, role: "data", member: i }));
      d.etcd.forEach((slot, j) => put(slot, { service: slot.key, replica: 0, role: "data", member: j }));
      put(d.pooler, { service: d.pooler?.key ?? "", replica: 0, role: "data" });
      break;
    }
    case "loadBalancer":
      put(componentSlots(c)[0], { service: c.id, replica: 0, role: "edge" });
      break;
    default:
      componentSlots(c).forEach((slot, i) => put(slot, { service: slot.key, replica: 0, role: "data", member: i }));
  }
  return out;
}

/** A stable offset per component, so every primary does not land on the first data host. */
function memberOffset(path: string, hosts: number): number {
  let h = 0;
  for (const ch of path) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h % hosts;
}

/**
 * Most replicas of a spread service on one host: enough that every replica still has a host when
 * one host is drained or lost (the others carry its share), ceil(replicas / (hosts - 1)).
 */
export function maxPerHost(replicas: number, hosts: number): number {
  return Math.ceil(replicas / Math.max(1, hosts - 1));
}

/** The hosts of `role`, in props order. */
export function hostsWithRole(target: SwarmTarget, role: HostRole): SwarmHost[] {
  return target.hosts.filter((h) => h.roles.includes(role));
}

/** The swarm target of a topology, when it has one. */
export function swarmTarget(t: Topology): SwarmTarget | undefined {
  const target = t.settings.target;
  return target?.kind === "swarm" ? target : undefined;
}

/** The replicas each service of a component has (its slots grouped by service). */
function replicaCounts(services: Map<string, SlotService>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of services.values()) counts.set(s.service, (counts.get(s.service) ?? 0) + 1);
  return counts;
}

/**
 * What a swarm target does not run yet, refused before any rule or planner reads it: Monitoring (its
 * exporters follow one engine's fixed addresses) and, with failover, a pooler (its router's HAProxy
 * reads the members' addresses once, at start). With failover, every Patroni member and every etcd
 * member needs a data host of its own: two on one host would be lost together (two etcd members of
 * three on the killed host take the quorum with them), so fewer data hosts than members is refused.
 */
export function assertSwarmSupported(t: Topology): void {
  const target = swarmTarget(t);
  if (!target) return;
  for (const c of t.components) {
    if (c.kind === "monitoring") {
      throw new PropsError(c.path, ["target: Monitoring is not built for a swarm target yet (its exporters follow one engine's addresses); leave it out on a swarm, or target one engine"]);
    }
    if (c.kind !== "database" || !c.settings.failover) continue;
    if (c.settings.pooler) {
      throw new PropsError(c.path, ["pooler: not built with failover on a swarm target yet (the pooler's router reads the members' addresses once, at start); leave the pooler out, or target one engine"]);
    }
    const dataHosts = hostsWithRole(target, "data");
    const members = c.settings.replicas + 1;
    const etcd = c.settings.failover.etcdMembers;
    if (dataHosts.length > 0 && dataHosts.length < Math.max(members, etcd)) {
      const field = members >= etcd ? "replicas" : "failover.etcdMembers";
      throw new PropsError(c.path, [
        `${field}: failover on a swarm puts each of the ${members} PostgreSQL members and each of the ${etcd} etcd members on a data host of its own, and the target has ${dataHosts.length} (${dataHosts.map((h) => h.name).join(", ")}); give ${Math.max(members, etcd)} hosts the 'data' role, or lower ${field} to at most ${field === "replicas" ? dataHosts.length - 1 : dataHosts.length}`,
      ]);
    }
  }
}

/**
 * Placement of every slot of a component on the swarm, by container key. A role no host has is a
 * props error naming the component and the role.
 */
export function componentPlacement(target: SwarmTarget, c: ComponentModel): Map<string, Placement> {
  const services = slotServices(c);
  const counts = replicaCounts(services);
  const out = new Map<string, Placement>();
  for (const [key, s] of services) {
    const hosts = hostsWithRole(target, s.role);
    if (hosts.length === 0) {
      throw new PropsError(c.path, [
        `target.hosts: no host has the role '${s.role}', and ${c.path} needs one to run ${s.service}; add '${s.role}' to the roles of a host (roles: ${target.hosts.map((h) => `${h.name} [${h.roles.join(", ")}]`).join("; ")})`,
      ]);
    }
    if (s.member !== undefined) {
      const host = hosts[(memberOffset(c.path, hosts.length) + s.member) % hosts.length];
      out.set(key, { service: s.service, replica: s.replica, role: s.role, host: host.name, constraints: { [HOST_LABEL]: host.name } });
    } else {
      const replicas = counts.get(s.service) ?? 1;
      out.set(key, {
        service: s.service,
        replica: s.replica,
        role: s.role,
        constraints: { [roleLabel(s.role)]: "true" },
        maxReplicasPerNode: maxPerHost(replicas, hosts.length),
        ...(s.exclusive ? { exclusive: true } : {}),
      });
    }
  }
  return out;
}

/** The node labels a host needs for this placement: its name and one per role. */
export function hostLabels(host: SwarmHost): Record<string, string> {
  const labels: Record<string, string> = { [HOST_LABEL]: host.name };
  for (const role of host.roles) if (role !== "manager") labels[roleLabel(role)] = "true";
  return { ...labels, ...host.labels };
}

/**
 * How many replicas of a spread service the hosts may carry without a re-render: the `app` hosts
 * times the most per host. HAProxy's server-template gets this many slots.
 */
export function serviceSlots(target: SwarmTarget, placement: Placement): number {
  if (placement.host !== undefined) return 1;
  return hostsWithRole(target, placement.role).length * (placement.maxReplicasPerNode ?? 1);
}
