/**
 * A stack's rule set: the core pack, then the packs its author adds. Ids must be unique across
 * every pack (an acknowledgement names a rule by id alone), and every rule must be complete.
 */
import { PropsError } from "../errors";
import type { Rule, RulePack } from "./rule";
import { CORE_RULE_PACK, SWARM_RULE_PACK } from "./rules";

const RULE_ID = /^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$/;

function problemsOf(pack: RulePack, rule: Rule, index: number, seen: Map<string, string>): string[] {
  const where = `rule pack '${pack.name}' rules.${index}`;
  const problems: string[] = [];
  if (typeof rule?.id !== "string" || !RULE_ID.test(rule.id)) {
    problems.push(`${where}.id: '${String(rule?.id)}' must be upper case words joined by '-', e.g. "ACME-WEB-PROCESSES"`);
  } else if (seen.has(rule.id)) {
    problems.push(`${where}.id: '${rule.id}' is already defined by pack '${seen.get(rule.id)}'; ids must be unique across packs`);
  }
  if (typeof rule?.title !== "string" || rule.title.trim() === "") problems.push(`${where}.title: required, one line`);
  if (typeof rule?.rationale !== "string" || rule.rationale.trim() === "") problems.push(`${where}.rationale: required, why the rule exists (it goes into the docs)`);
  if (rule?.severity !== "error" && rule?.severity !== "warning") problems.push(`${where}.severity: must be "error" or "warning"`);
  if (rule?.warnAt !== undefined && rule.warnAt !== null && !(rule.warnAt > 0 && rule.warnAt < 1)) problems.push(`${where}.warnAt: must be null or a share between 0 and 1`);
  if (typeof rule?.measure !== "function") problems.push(`${where}.measure: required, a function (topology) => Measurement[]`);
  return problems;
}

/**
 * The rules a stack runs, in report order (on a swarm target the swarm rules follow the core's);
 * throws a PropsError on the stack naming every bad rule.
 */
export function stackRules(stackPath: string, packs: readonly RulePack[], swarm = false): Rule[] {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  const rules: Rule[] = [];
  for (const pack of [CORE_RULE_PACK, ...(swarm ? [SWARM_RULE_PACK] : []), ...packs]) {
    (pack.rules ?? []).forEach((rule, i) => {
      const found = problemsOf(pack, rule, i, seen);
      problems.push(...found);
      if (found.length === 0) {
        seen.set(rule.id, pack.name);
        rules.push(rule);
      }
    });
  }
  if (problems.length > 0) throw new PropsError(stackPath, problems);
  return rules;
}
