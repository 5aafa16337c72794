import { Construct } from "constructs";
import type { z } from "zod";
import { PropsError } from "../core/errors";
import { workerTierSchema, type WorkerTierSettings } from "../core/schemas";
import type { WorkerTierModel } from "../core/topology";
import { WebstackComponent, parseProps, type ModelResolver } from "./component";
import { checkWiring, splitWiring, wiringModel, type ServiceWiring } from "./wiring";

export type WorkerTierProps = z.input<typeof workerTierSchema> & ServiceWiring;

/** Celery workers, with at most one beat scheduler (its own container) and optional Flower, all internal. */
export class WorkerTier extends WebstackComponent {
  static isWorkerTier(x: unknown): x is WorkerTier {
    return x instanceof WorkerTier;
  }

  public readonly settings: WorkerTierSettings;
  private readonly wiring: ServiceWiring;

  constructor(scope: Construct, id: string, props: WorkerTierProps) {
    super(scope, id);
    const { wiring, rest } = splitWiring(props ?? ({} as WorkerTierProps));
    this.settings = parseProps(this, workerTierSchema, rest);
    checkWiring(this, wiring);
    if (!wiring.queue) throw new PropsError(this.node.path, ["queue: a WorkerTier needs a Queue (its Celery broker)"]);
    this.wiring = wiring;
  }

  toModel(resolve: ModelResolver): WorkerTierModel {
    return { kind: "workerTier", id: this.node.id, path: this.node.path, settings: this.settings, ...wiringModel(this.wiring, resolve) };
  }
}
