/**
 * Evaluates rules and turns measurements into findings: pass, warn (above the warning fraction of
 * the limit, or a warning rule over its limit), fail, or acknowledged.
 */
import { BudgetError } from "../errors";
import type { Acknowledgement, Topology } from "../topology";
import { percent } from "../units";
import type { Measurement, Rule } from "./rule";
import { RULES } from "./rules";

export type FindingStatus = "pass" | "warn" | "fail" | "acknowledged";

export interface Finding extends Measurement {
  readonly ruleId: string;
  readonly title: string;
  readonly status: FindingStatus;
  /** null where the limit is 0 (a count of collisions, say). */
  readonly percentOfLimit: number | null;
  /** The reason of the acknowledgement, when the status is "acknowledged". */
  readonly acknowledgement?: string;
}

/** Id of the finding raised for an acknowledgement that matches no failing or warning finding. */
export const STALE_ACKNOWLEDGEMENT = "WS-ACK-UNUSED";

export const ackKey = (path: string, rule: string) => `${path}\u0000${rule}`;

/** Acknowledgements by construct path and rule id. */
export function acknowledgementIndex(acks: readonly Acknowledgement[]): ReadonlyMap<string, Acknowledgement> {
  return new Map(acks.map((a) => [ackKey(a.constructPath, a.ruleId), a]));
}

/** One rule's findings on a topology, with the acknowledgements applied. */
export function evaluateRule(rule: Rule, topology: Topology, acks: ReadonlyMap<string, Acknowledgement>): Finding[] {
  return rule.measure(topology).map((m): Finding => {
    const warnAt = rule.warnAt === undefined ? topology.settings.warnAtFraction : rule.warnAt;
    const over = m.used > m.limit;
    const near = warnAt !== null && m.limit > 0 && m.used > warnAt * m.limit;
    const status: FindingStatus = over ? (rule.severity === "error" ? "fail" : "warn") : near ? "warn" : "pass";
    const base = { ...m, ruleId: rule.id, title: rule.title, percentOfLimit: percent(m.used, m.limit) };
    const ack = acks.get(ackKey(m.constructPath, rule.id));
    if (ack && status !== "pass") return { ...base, status: "acknowledged", acknowledgement: ack.reason };
    return { ...base, status };
  });
}

export function evaluateBudgets(topology: Topology, rules: readonly Rule[] = RULES): Finding[] {
  const acks = acknowledgementIndex(topology.acknowledgements);
  const findings = rules.flatMap((rule) => evaluateRule(rule, topology, acks));
  // An acknowledgement that silences nothing is stale: it would hide the next real overcommit.
  const used = new Set(findings.filter((f) => f.status === "acknowledged").map((f) => ackKey(f.constructPath, f.ruleId)));
  const stale = topology.acknowledgements.filter((a) => !used.has(ackKey(a.constructPath, a.ruleId)));
  return [
    ...findings,
    ...stale.map(
      (a): Finding => ({
        ruleId: STALE_ACKNOWLEDGEMENT,
        title: "Every acknowledgement matches a failing or warning finding",
        constructPath: a.constructPath,
        subject: `acknowledgement of ${a.ruleId}`,
        used: 1,
        limit: 0,
        unit: "stale acknowledgements",
        lines: [`${a.ruleId} is acknowledged on ${a.constructPath} ("${a.reason}")`, `but ${a.ruleId} passes there (or does not apply to it)`],
        fix: `remove Budgets.of(...).acknowledge("${a.ruleId}", ...) from ${a.constructPath}`,
        status: "fail",
        percentOfLimit: null,
      }),
    ),
  ];
}

/** The message a person reads when synth fails: the rule, the path, the arithmetic and the fix. */
export function formatFinding(f: Finding): string {
  // A warning-severity rule over its limit warns too: say which kind of warning it is.
  const warning = f.used > f.limit ? "over its limit (a warning rule)" : "near its limit";
  const verdict = { fail: "FAILED", warn: warning, acknowledged: "acknowledged", pass: "ok" }[f.status];
  return [
    `[${f.constructPath}] ${f.ruleId} ${verdict}: ${f.title}`,
    `  ${f.subject}: ${f.used} ${f.status === "fail" ? ">" : "<="} ${f.limit} ${f.unit}${f.percentOfLimit === null ? "" : ` (${f.percentOfLimit}%)`}`,
    ...f.lines.map((l) => `    ${l}`),
    ...(f.acknowledgement ? [`  acknowledged: ${f.acknowledgement}`] : []),
    ...(f.status === "pass" || f.status === "acknowledged" ? [] : [`  fix: ${f.fix}`]),
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
