/**
 * What every planner shares while the cluster plan is built: the topology, the address blocks,
 * and the containers, volumes and secrets planned so far. A planner adds to it through these
 * helpers only, so names, addresses and secrets follow one convention.
 */
import { addressBlocks, componentSlots, type Slot } from "../layout";
import { addressesIn } from "../network";
import type { ContainerSpec, FileSpec, HealthCheckSpec, MountSpec, VolumeSpec } from "../model";
import { PropsError } from "../errors";
import { secretRef, type SecretSpec } from "../secrets";
import type { ComponentModel, ComponentKind, ModelOf, Topology } from "../topology";
import { componentPlacement, swarmTarget, type Placement, type SwarmTarget } from "../placement";
import { monitoringOf } from "../monitoring";
import { cgroupParentOf } from "./cgroups";

const SECRET_VALIDATION_NOTE = "at least 16 characters of A-Z a-z 0-9 _ -";

/** Plans the containers of one component kind. */
export interface Planner<K extends ComponentKind> {
  readonly kind: K;
  plan(ctx: PlanContext, component: ModelOf<K>): void;
}

/** Fields every container spec gets unless its planner says otherwise. */
type ContainerDefaults = "name" | "sysctls" | "ulimits" | "publishes" | "aliases" | "mounts" | "stopTimeoutSeconds" | "dependsOn";

export class PlanContext {
  readonly containers: ContainerSpec[] = [];
  readonly volumes: VolumeSpec[] = [];
  private readonly secretSpecs = new Map<string, SecretSpec>();
  private readonly blocks: ReadonlyMap<string, number>;
  private readonly addressAt: (block: number, index: number) => string;
  /** Set when the stack targets a Docker Swarm: containers become replicas of placed services. */
  readonly swarm?: SwarmTarget;
  private readonly placements = new Map<string, Map<string, Placement>>();

  constructor(readonly topology: Topology) {
    this.blocks = addressBlocks(topology);
    this.addressAt = addressesIn(topology.settings.subnet);
    this.swarm = swarmTarget(topology);
  }

  /**
   * Address of a component's container at `slot` (or at a bare index). On a swarm, where tasks get
   * their addresses from the overlay network, the DNS name of the service the slot belongs to
   * (with `endpoint_mode = dnsrr`, the addresses of its running replicas).
   */
  address(component: ComponentModel, slot: Slot | number): string {
    const block = this.blocks.get(component.path);
    if (block === undefined) throw new Error(`internal: no address block for ${component.path}`);
    const index = typeof slot === "number" ? slot : slot.index;
    if (this.swarm) {
      const key = typeof slot === "number" ? componentSlots(component).find((s) => s.index === slot)?.key : slot.key;
      const placement = key === undefined ? undefined : this.placementOf(component, key);
      if (!placement) throw new Error(`internal: no swarm placement for slot ${String(key ?? index)} of ${component.path}`);
      return this.serviceName(placement.service);
    }
    return this.addressAt(block, index);
  }

  /** Docker name of a swarm service (its DNS name on the overlay network). */
  serviceName(service: string): string {
    return `${this.topology.prefix}-${service}`;
  }

  /** Placement of a component's container on the swarm; undefined on one engine. */
  placementOf(component: ComponentModel, key: string): Placement | undefined {
    if (!this.swarm) return undefined;
    let byKey = this.placements.get(component.path);
    if (!byKey) {
      byKey = componentPlacement(this.swarm, component);
      this.placements.set(component.path, byKey);
    }
    return byKey.get(key);
  }

  /**
   * Key of a volume every node of a tier mounts: one per node on one engine (`web-1-static`), one
   * name on a swarm (`web-static`), where each host keeps its own local copy.
   */
  nodeVolumeKey(component: ComponentModel, node: string, suffix: string): string {
    return this.swarm ? `${component.id}-${suffix}` : `${node}-${suffix}`;
  }

  /**
   * The name a replica gives itself (a Celery node name): its key on one engine; on a swarm, where
   * replicas share one spec, its service's (the task's hostname makes it unique).
   */
  replicaName(component: ComponentModel, key: string): string {
    return this.placementOf(component, key)?.service ?? key;
  }

  /**
   * Who a daemon trusts for forwarded headers: its one peer's address on one engine, the stack's
   * subnet (the overlay network's) on a swarm, where the peers' addresses are not known ahead.
   */
  trustedPeer(address: string): string {
    return this.swarm ? this.topology.settings.subnet : address;
  }

  /** Declares a secret (a sensitive variable) and returns its placeholder. */
  secret(name: string, description: string): string {
    return this.declare({ name, description: `${description} (${SECRET_VALIDATION_NOTE})`, format: "password" });
  }

  /** Declares a secret holding a PEM bundle (certificate, chain, key) and returns its placeholder. */
  pemSecret(name: string, description: string): string {
    return this.declare({ name, description, format: "pem" });
  }

  /** Declares a secret holding an http(s) URL (a webhook with its token) and returns its placeholder. */
  urlSecret(name: string, description: string): string {
    return this.declare({ name, description, format: "url" });
  }

  /**
   * The same secret may be declared by each of its users; two different secrets under one name
   * (a certificateVariable named like a generated password, say) would silently become one.
   */
  private declare(spec: SecretSpec): string {
    const known = this.secretSpecs.get(spec.name);
    if (known && (known.description !== spec.description || known.format !== spec.format)) {
      throw new PropsError(this.topology.stackPath, [
        `two secrets are named '${spec.name}': ${known.description}, and ${spec.description}; give the variable you name (certificateVariable, keyVariable) another name`,
      ]);
    }
    this.secretSpecs.set(spec.name, spec);
    return secretRef(spec.name);
  }

  secrets(): SecretSpec[] {
    return [...this.secretSpecs.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A named volume of `component` mounted at `path`; declared once however often it is mounted. */
  volume(component: ComponentModel, key: string, path: string, readOnly = false): MountSpec {
    if (!this.volumes.some((v) => v.key === key)) {
      this.volumes.push({ key, name: `${this.topology.prefix}-${key}`, constructPath: component.path });
    }
    return { volume: key, path, readOnly };
  }

  container(spec: Omit<ContainerSpec, ContainerDefaults> & Partial<ContainerSpec>): ContainerSpec {
    // A monitored stack on one engine: a cgroup parent that names the container, read by the stats
    // exporter (cgroups.ts). Not on a swarm, which refuses Monitoring (placement.ts).
    const monitoring = this.swarm ? undefined : monitoringOf(this.topology);
    const full: ContainerSpec = {
      ...(monitoring ? { cgroupParent: cgroupParentOf(monitoring.settings.cgroupDriver, this.topology.prefix, spec.key) } : {}),
      name: `${this.topology.prefix}-${spec.key}`,
      dependsOn: [],
      sysctls: {},
      ulimits: [],
      publishes: [],
      aliases: [spec.key],
      mounts: [],
      stopTimeoutSeconds: 30,
      ...spec,
    };
    if (this.swarm) {
      const component = this.topology.components.find((c) => c.path === spec.constructPath);
      const placement = component && this.placementOf(component, spec.key);
      if (!placement) throw new Error(`internal: no swarm placement for ${spec.key} of ${spec.constructPath}`);
      this.containers.push({ ...full, placement });
      return this.containers[this.containers.length - 1];
    }
    this.containers.push(full);
    return full;
  }
}

export const file = (path: string, content: string, executable = false): FileSpec => ({ path, content, executable });

/** An exec-form health check. */
export const cmd = (...test: string[]): HealthCheckSpec => ({ test: ["CMD", ...test], intervalSeconds: 10, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 10 });

/** A shell-form health check. */
export const shell = (script: string, startPeriodSeconds = 10): HealthCheckSpec => ({
  test: ["CMD-SHELL", script],
  intervalSeconds: 10,
  timeoutSeconds: 5,
  retries: 3,
  startPeriodSeconds,
});

export const nofile = (n: number) => [{ name: "nofile", soft: n, hard: n }];

/** Lower snake case of a construct id, for Terraform variable and PostgreSQL names. */
export const snake = (id: string) => id.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
