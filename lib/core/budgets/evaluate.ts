/**
 * Evaluates every rule and turns measurements into findings: pass, warn (above the warning
 * fraction of the limit, or a warning rule over its limit) or fail.
 */
import { BudgetError } from "../errors";
import type { ClusterPlan } from "../model";
import type { Topology } from "../topology";
import { percent } from "../units";
import { RULES, type Measurement, type Rule } from "./rules";

export type FindingStatus = "pass" | "warn" | "fail";

export interface Finding extends Measurement {
  readonly ruleId: string;
  readonly title: string;
  readonly status: FindingStatus;
  readonly percentOfLimit: number;
}

export function evaluateBudgets(topology: Topology, plan: ClusterPlan, rules: readonly Rule[] = RULES): Finding[] {
  return rules.flatMap((rule) =>
    rule.measure(topology, plan).map((m): Finding => {
      const warnAt = rule.warnAt === undefined ? topology.settings.warnAtFraction : rule.warnAt;
      const over = m.used > m.limit;
      const near = warnAt !== null && m.limit > 0 && m.used > warnAt * m.limit;
      const status: FindingStatus = over ? (rule.severity === "error" ? "fail" : "warn") : near ? "warn" : "pass";
      return { ...m, ruleId: rule.id, title: rule.title, status, percentOfLimit: percent(m.used, m.limit) };
    }),
  );
}

/** The message a person reads when synth fails: the rule, the path, the arithmetic and the fix. */
export function formatFinding(f: Finding): string {
  const verdict = f.status === "fail" ? "FAILED" : f.status === "warn" ? "near its limit" : "ok";
  return [
    `[${f.constructPath}] ${f.ruleId} ${verdict}: ${f.title}`,
    `  ${f.subject}: ${f.used} ${f.status === "fail" ? ">" : "<="} ${f.limit} ${f.unit} (${f.percentOfLimit}%)`,
    ...f.lines.map((l) => `    ${l}`),
    ...(f.status === "pass" ? [] : [`  fix: ${f.fix}`]),
  ].join("\n");
}

export function assertBudgets(findings: readonly Finding[]): void {
  const failed = findings.filter((f) => f.status === "fail");
  if (failed.length > 0) {
    throw new BudgetError(
      `${failed.length} budget rule${failed.length > 1 ? "s" : ""} failed; nothing was written.\n\n${failed.map(formatFinding).join("\n\n")}\n`,
    );
  }
}
