/**
 * What each swarm host carries at most, from the topology alone (the rules never read the plan):
 * the memory each slot reserves, and per host the pinned members on it plus, for every spread
 * service its roles allow, the most replicas the service may put on one host. That bound holds
 * whatever the scheduler picks, after a drain or the loss of a host as well.
 */
import { FLOWER_MEMORY_MIB, beatMemoryMiB, webAppMemoryMiB, workerMemoryMiB } from "./derive";
import { databaseSlots, releaseSlot, workerSlots } from "./layout";
import { componentPlacement, hostsWithRole, type Placement, type SwarmHost, type SwarmTarget } from "./placement";
import type { ComponentModel, Topology } from "./topology";

/** Memory limit (and swarm reservation) of a component's container `key`, as its planner sets it. */
export function slotMemoryMiB(c: ComponentModel, key: string): number {
  switch (c.kind) {
    case "webTier": {
      // Node keys are `<id>-<n>-app` and `<id>-<n>-nginx` (layout.ts); the release runs the app image.
      return key !== releaseSlot(c)?.key && key.endsWith("-nginx") ? c.settings.nginxMemoryMiB : webAppMemoryMiB(c.settings);
    }
    case "workerTier": {
      const w = workerSlots(c);
      if (key === w.beat?.key) return beatMemoryMiB(c.settings);
      if (key === w.flower?.key) return FLOWER_MEMORY_MIB;
      return workerMemoryMiB(c.settings);
    }
    case "database": {
      const d = databaseSlots(c);
      if (key === d.pooler?.key && c.settings.pooler) return c.settings.pooler.memoryMiB;
      if (c.settings.failover && d.etcd.some((slot) => slot.key === key)) return c.settings.failover.etcdMemoryMiB;
      return c.settings.memoryMiB;
    }
    case "monitoring":
      throw new Error("internal: a swarm target refuses Monitoring before its capacity is counted (assertSwarmSupported)");
    default:
      return c.settings.memoryMiB;
  }
}

/** One service as the capacity sees it: its placement, replicas and memory per replica. */
export interface ServiceLoad {
  readonly component: ComponentModel;
  readonly service: string;
  readonly placement: Placement;
  readonly replicas: number;
  readonly memoryMiB: number;
}

export function serviceLoads(t: Topology, target: SwarmTarget): ServiceLoad[] {
  const out = new Map<string, ServiceLoad>();
  for (const c of t.components) {
    let placements: Map<string, Placement>;
    try {
      placements = componentPlacement(target, c);
    } catch {
      continue; // a role no host has: the plan refuses it with a props error
    }
    for (const [key, p] of placements) {
      const known = out.get(p.service);
      out.set(p.service, known ? { ...known, replicas: known.replicas + 1 } : { component: c, service: p.service, placement: p, replicas: 1, memoryMiB: slotMemoryMiB(c, key) });
    }
  }
  return [...out.values()];
}

/** What one host may have to carry: each line a service and its share. */
export interface HostLoad {
  readonly host: SwarmHost;
  readonly lines: readonly { readonly service: string; readonly replicas: number; readonly memoryMiB: number; readonly pinned: boolean }[];
  readonly reservedMiB: number;
}

export function hostLoads(t: Topology, target: SwarmTarget): HostLoad[] {
  const loads = serviceLoads(t, target);
  return target.hosts.map((host) => {
    const lines = loads.flatMap((l) => {
      if (l.placement.host !== undefined) return l.placement.host === host.name ? [{ service: l.service, replicas: 1, memoryMiB: l.memoryMiB, pinned: true }] : [];
      if (!host.roles.includes(l.placement.role)) return [];
      const most = Math.min(l.replicas, l.placement.maxReplicasPerNode ?? l.replicas);
      return [{ service: l.service, replicas: most, memoryMiB: most * l.memoryMiB, pinned: false }];
    });
    return { host, lines, reservedMiB: lines.reduce((sum, l) => sum + l.memoryMiB, 0) };
  });
}

/**
 * How many more replicas of each tier's spread service one host's free memory takes (not of a
 * singleton: Celery beat, a release, a load balancer on its host ports).
 */
export function moreReplicas(t: Topology, target: SwarmTarget): { host: string; freeMiB: number; more: Record<string, number> }[] {
  const loads = serviceLoads(t, target).filter((l) => l.placement.host === undefined && !l.placement.exclusive && l.placement.role !== "edge");
  return hostLoads(t, target).map(({ host, reservedMiB }) => {
    const freeMiB = host.memoryMiB - reservedMiB;
    const more = Object.fromEntries(
      loads.filter((l) => host.roles.includes(l.placement.role)).map((l) => [l.service, Math.max(0, Math.floor(freeMiB / l.memoryMiB))]),
    );
    return { host: host.name, freeMiB, more };
  });
}

/** On a swarm: what each host may have to carry, and how many more replicas of each spread service its free memory takes. */
export interface HostCapacity {
  readonly host: string;
  readonly roles: readonly string[];
  readonly memoryMiB: number;
  readonly reservedMiB: number;
  readonly freeMiB: number;
  readonly services: readonly string[];
  readonly moreReplicas: Readonly<Record<string, number>>;
}

export function hostCapacities(t: Topology, target: SwarmTarget): HostCapacity[] {
  const more = moreReplicas(t, target);
  return hostLoads(t, target).map((l, i) => ({
    host: l.host.name,
    roles: l.host.roles,
    memoryMiB: l.host.memoryMiB,
    reservedMiB: l.reservedMiB,
    freeMiB: more[i].freeMiB,
    services: l.lines.map((x) => `${x.service}${x.pinned ? " (pinned)" : ` (up to ${x.replicas})`}`),
    moreReplicas: more[i].more,
  }));
}

/** The hosts as a Markdown section, for capacity.md and the `capacity` command. */
export function renderHostCapacities(hosts: readonly HostCapacity[]): string[] {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  return [
    "## Swarm hosts",
    "",
    "What each host may have to carry (its pinned members, and of each spread service the most replicas it may put on one host), and how many more replicas its free memory takes.",
    "",
    "| host | roles | memory MiB | reserved MiB | free MiB | services | more replicas that fit |",
    "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ...hosts.map((h) => `| ${h.host} | ${h.roles.join(", ")} | ${h.memoryMiB} | ${h.reservedMiB} | ${h.freeMiB} | ${cell(h.services.join(", "))} | ${cell(Object.entries(h.moreReplicas).map(([s, n]) => `${s} +${n}`).join(", ") || "-")} |`),
    "",
  ];
}

export { hostsWithRole };
