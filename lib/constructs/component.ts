import { Construct } from "constructs";
import type { z } from "zod";
import { PropsError } from "../core/errors";
import type { ComponentModel } from "../core/topology";
import { assertNotBuilt, stackStateOf } from "./stack-state";

const COMPONENT = Symbol.for("cdktf-webstack.Component");

/** Gives the model of a referenced component, built once per topology. */
export type ModelResolver = <M extends ComponentModel>(component: WebstackComponent) => M;

/**
 * Base of every cdktf-webstack construct. A component validates its props at once and, at synth,
 * describes itself to the stack as a framework-free model; it creates no resources itself.
 */
export abstract class WebstackComponent extends Construct {
  static isComponent(x: unknown): x is WebstackComponent {
    return typeof x === "object" && x !== null && COMPONENT in x;
  }

  constructor(scope: Construct, id: string) {
    super(scope, id);
    Object.defineProperty(this, COMPONENT, { value: true });
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(id)) {
      throw new PropsError(this.node.path, [`id '${id}': must be lower case letters, digits and '-', starting with a letter (it names containers and volumes)`]);
    }
    if (!stackStateOf(this)) {
      throw new PropsError(this.node.path, [
        "must be created inside a WebStack (new WebStack(app, id)), which plans, checks and emits it; in tests use new WebStack(Testing.app(), id) rather than Testing.synthScope",
      ]);
    }
    assertNotBuilt(this, "created");
  }

  /** The model of this component, read at synth time so later wiring is seen; references resolve through `resolve`. */
  abstract toModel(resolve: ModelResolver): ComponentModel;
}

/** Parses props with a schema, or throws a PropsError naming the construct path and each bad field. */
export function parseProps<S extends z.ZodType>(scope: Construct, schema: S, props: unknown): z.output<S> {
  const result = schema.safeParse(props ?? {});
  if (!result.success) throw PropsError.fromZod(scope.node.path, result.error);
  return result.data;
}

/** Rejects a construct reference that is not of the expected kind, or lives in another stack. */
export function checkReference(owner: Construct, field: string, value: unknown, expected: string, isKind: (x: unknown) => boolean): void {
  if (value === undefined) return;
  if (!isKind(value)) {
    throw new PropsError(owner.node.path, [`${field}: expected a ${expected} construct`]);
  }
  const ownerRoot = owner.node.scopes[1];
  const valueRoot = (value as Construct).node.scopes[1];
  if (ownerRoot !== valueRoot) {
    throw new PropsError(owner.node.path, [`${field}: ${(value as Construct).node.path} belongs to another stack`]);
  }
}
