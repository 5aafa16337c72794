/**
 * Terraform's `lifecycle` block as far as the e2e applier implements it: `postcondition` only, each a
 * `condition` over `self` and an `error_message`. Terraform checks a resource's postconditions right
 * after it was created (with its computed attributes, such as the docker provider's `exit_code`),
 * and a false one fails the apply there with the error message, so nothing that depends on the
 * resource is created. Any other lifecycle argument, or a condition this evaluator does not
 * understand, fails the apply by name instead of being ignored.
 */
import { list, type Block, type Json } from "./tf-json";

export interface Postcondition {
  /** As written, e.g. `${self.exit_code == 0}`. */
  text: string;
  attribute: string;
  operator: "==" | "!=";
  literal: number | string | boolean | null;
  errorMessage: string;
}

/** Attributes the provider computes that the applier knows after a create (docker_container). */
export const COMPUTED = ["exit_code"] as const;
export type Computed = Record<(typeof COMPUTED)[number], number | null>;

const CONDITION = /^\$\{\s*self\.([a-z_]+)\s*(==|!=)\s*(-?\d+|"[^"$%]*"|true|false|null)\s*\}$/;

function literalOf(raw: string): number | string | boolean | null {
  if (raw === "null") return null;
  if (raw === "true" || raw === "false") return raw === "true";
  if (raw.startsWith('"')) return raw.slice(1, -1);
  return Number(raw);
}

/** The postconditions of a resource, or one message per lifecycle argument or condition the applier does not handle. */
export function parseLifecycle(type: string, name: string, lifecycle: Json | undefined): { postconditions: Postcondition[]; errors: string[] } {
  const postconditions: Postcondition[] = [];
  const errors: string[] = [];
  if (lifecycle === undefined || lifecycle === null) return { postconditions, errors };
  const at = `${type}.${name}: lifecycle`;
  if (typeof lifecycle !== "object" || Array.isArray(lifecycle)) return { postconditions, errors: [`${at} is not a block`] };
  for (const key of Object.keys(lifecycle)) {
    // create_before_destroy orders a replacement (of a config or secret named by its content); the
    // applier only creates and destroys, where it changes nothing.
    if (key === "create_before_destroy" && (type === "docker_config" || type === "docker_secret") && typeof lifecycle[key] === "boolean") continue;
    if (key !== "postcondition") errors.push(`${at} argument "${key}" is not handled by the e2e applier`);
  }
  list(lifecycle.postcondition as Json).forEach((p: Block, i): void => {
    for (const key of Object.keys(p)) if (key !== "condition" && key !== "error_message") errors.push(`${at}.postcondition[${i}].${key} is not handled by the e2e applier`);
    const text = String(p.condition);
    const m = CONDITION.exec(text);
    if (!m) return void errors.push(`${at}.postcondition[${i}].condition ${JSON.stringify(text)} is not a comparison of a self attribute with a literal, which is all the e2e applier evaluates`);
    if (type !== "docker_container" || !(COMPUTED as readonly string[]).includes(m[1])) {
      return void errors.push(`${at}.postcondition[${i}].condition: self.${m[1]} is not an attribute the e2e applier knows after a create (it knows: ${COMPUTED.join(", ")})`);
    }
    if (typeof p.error_message !== "string" || p.error_message.trim() === "") return void errors.push(`${at}.postcondition[${i}]: error_message must be a non-empty string`);
    if (/\$\{|%\{/.test(p.error_message.replace(/\$\$\{|%%\{/g, ""))) return void errors.push(`${at}.postcondition[${i}].error_message: templates in it are not handled by the e2e applier`);
    postconditions.push({ text, attribute: m[1], operator: m[2] as "==" | "!=", literal: literalOf(m[3]), errorMessage: p.error_message.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{") });
  });
  return { postconditions, errors };
}

/**
 * The first false postcondition as Terraform reports it, or undefined when all hold. A null
 * attribute (a container still running has no exit_code) compares as Terraform's null does.
 */
export function failedPostcondition(resource: string, postconditions: readonly Postcondition[], self: Computed): string | undefined {
  for (const p of postconditions) {
    const value = self[p.attribute as keyof Computed];
    const equal = value === p.literal;
    if ((p.operator === "==") !== equal) {
      return `Resource postcondition failed for ${resource}: ${p.errorMessage}\n  condition ${p.text}: self.${p.attribute} is ${value === null ? "null" : JSON.stringify(value)}`;
    }
  }
  return undefined;
}
