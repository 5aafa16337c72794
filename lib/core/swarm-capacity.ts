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
    case "database":
      return key === databaseSlots(c).pooler?.key && c.settings.pooler ? c.settings.pooler.memoryMiB : c.settings.memoryMiB;
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

/** How many more replicas of each spread service one host's free memory takes. */
export function moreReplicas(t: Topology, target: SwarmTarget): { host: string; freeMiB: number; more: Record<string, number> }[] {
  const loads = serviceLoads(t, target).filter((l) => l.placement.host === undefined);
  return hostLoads(t, target).map(({ host, reservedMiB }) => {
    const freeMiB = host.memoryMiB - reservedMiB;
    const more = Object.fromEntries(
      loads.filter((l) => host.roles.includes(l.placement.role)).map((l) => [l.service, Math.max(0, Math.floor(freeMiB / l.memoryMiB))]),
    );
    return { host: host.name, freeMiB, more };
  });
}

export { hostsWithRole };
