import { Construct } from "constructs";
import type { z } from "zod";
import { webTierSchema, type WebTierSettings } from "../core/schemas";
import type { WebTierModel } from "../core/topology";
import { WebstackComponent, parseProps, type ModelResolver } from "./component";
import { withMeasurement } from "../core/measurement";
import { readMeasurement } from "./measurement-file";
import { assertNotBuilt } from "./stack-state";
import { checkWiring, splitWiring, wiringModel, type ServiceWiring } from "./wiring";

export type WebTierProps = z.input<typeof webTierSchema> & ServiceWiring;

/** `nodes` web nodes, each nginx in front of uWSGI or gunicorn running your WSGI app. */
export class WebTier extends WebstackComponent {
  static isWebTier(x: unknown): x is WebTier {
    return x instanceof WebTier;
  }

  public readonly settings: WebTierSettings;
  private wiring: ServiceWiring;

  constructor(scope: Construct, id: string, props: WebTierProps) {
    super(scope, id);
    const { wiring, rest } = splitWiring(props ?? ({} as WebTierProps));
    const parsed = parseProps(this, webTierSchema, rest);
    const rate = readMeasurement(this.node.path, parsed);
    this.settings = rate ? withMeasurement(parsed, { nodes: rest.nodes !== undefined, processRssMiB: rest.processRssMiB !== undefined }, rate) : parsed;
    checkWiring(this, wiring);
    this.wiring = wiring;
  }

  /** The services this tier connects to. */
  get services(): ServiceWiring {
    return this.wiring;
  }

  /** Connects this tier to more services after construction (read at synth). */
  connect(services: ServiceWiring): void {
    assertNotBuilt(this, "connect() called");
    checkWiring(this, services);
    this.wiring = { ...this.wiring, ...Object.fromEntries(Object.entries(services).filter(([, v]) => v !== undefined)) };
  }

  toModel(resolve: ModelResolver): WebTierModel {
    return { kind: "webTier", id: this.node.id, path: this.node.path, settings: this.settings, ...wiringModel(this.wiring, resolve) };
  }
}
