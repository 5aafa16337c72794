import type { IConstruct } from "constructs";
import { PropsError } from "../core/errors";
import { RULES } from "../core/budgets/rules";
import type { Acknowledgement } from "../core/topology";
import { assertNotBuilt, stackStateOf } from "./stack-state";

const ACKS = Symbol.for("cdktf-webstack.acknowledgements");

/**
 * Per-construct acknowledgements of budget findings, for a deliberate overcommit. Each names one
 * rule on one construct with a written reason; there is no way to silence a rule for a whole stack.
 *
 *   Budgets.of(db).acknowledge("WS-DB-CONNECTIONS", "workers never run during the nightly peak");
 */
export class Budgets {
  static of(construct: IConstruct): Budgets {
    return new Budgets(construct);
  }

  /** Every acknowledgement under a scope, in construct order. */
  static collect(scope: IConstruct): Acknowledgement[] {
    return scope.node.findAll().flatMap((c) => ((c as unknown as Record<symbol, Acknowledgement[]>)[ACKS] ?? []).slice());
  }

  private constructor(private readonly construct: IConstruct) {}

  acknowledge(ruleId: string, reason: string): this {
    const path = this.construct.node.path;
    assertNotBuilt(this.construct, `acknowledge("${ruleId}") called`);
    // The stack's own rule set: the core rules and the packs the stack was given.
    const rules = stackStateOf(this.construct)?.rules ?? RULES;
    if (!rules.some((r) => r.id === ruleId)) {
      throw new PropsError(path, [`acknowledge: unknown rule '${ruleId}'; known rules: ${rules.map((r) => r.id).join(", ")}`]);
    }
    if (reason.trim().length < 10) {
      throw new PropsError(path, [`acknowledge ${ruleId}: give a reason of at least 10 characters; it is printed in the capacity report`]);
    }
    const holder = this.construct as unknown as Record<symbol, Acknowledgement[]>;
    if (!holder[ACKS]) Object.defineProperty(holder, ACKS, { value: [], enumerable: false });
    if (holder[ACKS].some((a) => a.ruleId === ruleId)) throw new PropsError(path, [`acknowledge: ${ruleId} is already acknowledged here`]);
    holder[ACKS].push({ constructPath: path, ruleId, reason: reason.trim() });
    return this;
  }
}
