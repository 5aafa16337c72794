/**
 * What a WebStack tells the constructs inside it, without an import cycle: the rules it runs (so an
 * acknowledgement is checked against them) and whether its cluster is already built (so a
 * construct added afterwards is refused instead of silently missing from the output).
 */
import type { IConstruct } from "constructs";
import type { Rule } from "../core/budgets/rule";
import { PropsError } from "../core/errors";

const STATE = Symbol.for("cdktf-webstack.WebStackState");

export interface StackState {
  readonly rules: readonly Rule[];
  /** Set once the stack has built its cluster; nothing may be added or rewired after. */
  builtAt?: string;
}

export function attachStackState(stack: IConstruct, state: StackState): void {
  Object.defineProperty(stack, STATE, { value: state, enumerable: false });
}

/** The state of the WebStack `construct` is in (itself included), if any. */
export function stackStateOf(construct: IConstruct): StackState | undefined {
  const scopes = construct.node.scopes;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const state = (scopes[i] as unknown as Record<symbol, StackState | undefined>)[STATE];
    if (state) return state;
  }
  return undefined;
}

/** Refuses a change to a stack whose cluster is already built: it would not reach the output. */
export function assertNotBuilt(construct: IConstruct, what: string): void {
  const state = stackStateOf(construct);
  if (state?.builtAt) {
    throw new PropsError(construct.node.path, [
      `${what} after ${state.builtAt} was synthesized: it would be missing from the output. Create and wire every construct before synth (or before calling cluster()).`,
    ]);
  }
}
