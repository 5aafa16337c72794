/**
 * What every planner shares while the cluster plan is built: the topology, the address blocks,
 * and the containers, volumes and secrets planned so far. A planner adds to it through these
 * helpers only, so names, addresses and secrets follow one convention.
 */
import { addressBlocks, type Slot } from "../layout";
import { addressesIn } from "../network";
import type { ContainerSpec, FileSpec, HealthCheckSpec, MountSpec, VolumeSpec } from "../model";
import { PropsError } from "../errors";
import { secretRef, type SecretSpec } from "../secrets";
import type { ComponentModel, ComponentKind, ModelOf, Topology } from "../topology";

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

  constructor(readonly topology: Topology) {
    this.blocks = addressBlocks(topology);
    this.addressAt = addressesIn(topology.settings.subnet);
  }

  /** Address of a component's container at `slot` (or at a bare index). */
  address(component: ComponentModel, slot: Slot | number): string {
    const block = this.blocks.get(component.path);
    if (block === undefined) throw new Error(`internal: no address block for ${component.path}`);
    return this.addressAt(block, typeof slot === "number" ? slot : slot.index);
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
    const full: ContainerSpec = {
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
