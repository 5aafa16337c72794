/**
 * Turns the topology into the cluster plan: every container with its rendered files, command,
 * environment, address, memory limit and health check. Pure: the same topology gives the same plan.
 * One planner per component kind, registered in PLANNERS; a target (one Docker engine today)
 * consumes the plan without knowing the kinds.
 */
import { componentSlots } from "../layout";
import type { ClusterPlan, ContainerSpec } from "../model";
import { PropsError } from "../errors";
import { gatewayAddress } from "../network";
import { secretsIn } from "../secrets";
import { componentsOf, type ComponentKind, type ComponentModel, type Topology } from "../topology";
import { cachePlanner } from "./cache";
import { PlanContext, type Planner } from "./context";
import { databasePlanner } from "./database";
import { loadBalancerPlanner } from "./load-balancer";
import { monitoringPlanner } from "./monitoring";
import { queuePlanner } from "./queue";
import { searchPlanner } from "./search";
import { webTierPlanner } from "./web-tier";
import { workerTierPlanner } from "./worker-tier";

/**
 * Servers first, then their clients, so the plan reads top-down from the data to the edge and every
 * container comes after the ones it depends on.
 */
export const PLANNERS: readonly Planner<ComponentKind>[] = [
  databasePlanner,
  cachePlanner,
  queuePlanner,
  searchPlanner,
  webTierPlanner,
  workerTierPlanner,
  loadBalancerPlanner,
  // Last: it reads every other container (its exporters' targets, its scrape targets).
  monitoringPlanner,
] as readonly Planner<ComponentKind>[];

function planComponent(ctx: PlanContext, planner: Planner<ComponentKind>, component: ComponentModel): void {
  const before = ctx.containers.length;
  planner.plan(ctx, component as never);
  // WS-NET-COLLISIONS and the capacity probes count containers from the layout: it must be what was planned.
  const planned = ctx.containers.slice(before).map((c) => c.key);
  const laid = componentSlots(component, ctx.topology).map((s) => s.key);
  if (planned.join() !== laid.join()) throw new Error(`internal: ${component.path} planned [${planned}] but its layout says [${laid}]`);
}

/**
 * A user may name a stack secret in `environment` ("@@secret:db_password@@"); one the stack does not
 * declare would reach Terraform as a reference to no variable.
 */
function checkSecretReferences(plan: Pick<ClusterPlan, "containers" | "secrets">): void {
  const known = new Set(plan.secrets.map((s) => s.name));
  for (const c of plan.containers) {
    for (const [key, value] of Object.entries(c.env)) {
      const unknown = secretsIn(value).filter((name) => !known.has(name));
      if (unknown.length > 0) {
        throw new PropsError(c.constructPath, [`environment.${key}: no secret named '${unknown[0]}' in this stack; its secrets are: ${[...known].join(", ")}`]);
      }
    }
  }
}

export function planCluster(topology: Topology): ClusterPlan {
  const ctx = new PlanContext(topology);
  for (const name of Object.keys(topology.settings.appSecrets).sort()) ctx.secret(name, topology.settings.appSecrets[name]);
  for (const planner of PLANNERS) {
    for (const component of componentsOf(topology, planner.kind)) planComponent(ctx, planner, component);
  }
  checkSecretReferences({ containers: ctx.containers, secrets: ctx.secrets() });
  if (ctx.swarm) checkServiceNames(ctx.containers);
  return {
    network: { name: `${topology.prefix}-net`, subnet: topology.settings.subnet, gateway: gatewayAddress(topology.settings.subnet) },
    volumes: ctx.volumes,
    containers: ctx.containers,
    secrets: ctx.secrets(),
    ...(ctx.swarm ? { target: ctx.swarm } : {}),
  };
}

/** On a swarm, two components whose services share a name (a tier `web` and a tier `web-app`) would become one service. */
function checkServiceNames(containers: readonly ContainerSpec[]): void {
  const owner = new Map<string, string>();
  for (const c of containers) {
    const service = c.placement!.service;
    const known = owner.get(service);
    if (known !== undefined && known !== c.constructPath) {
      throw new PropsError(c.constructPath, [`id: on a swarm its service '${service}' has the name of one of ${known}; rename one of the two constructs`]);
    }
    owner.set(service, c.constructPath);
  }
}

export { PlanContext, type Planner } from "./context";
export { ENV, secretNames } from "./clients";
export { REPLICATION_USER, replicaSlotName } from "./database";
export { HAPROXY_DIR } from "./load-balancer";
export { HOST_LABEL, hostLabels, hostsWithRole, roleLabel, serviceSlots, swarmTarget, type Placement } from "../placement";
export { NGINX_PORT, STATIC_ROOT, UWSGI_STATS_PORT } from "./web-tier";
