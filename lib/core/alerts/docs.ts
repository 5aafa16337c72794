/** The README's table of alerts, generated from the same specs as the rule file (scripts/alerts-doc.ts). */
import type { AlertSpec } from "./spec";

const cell = (s: string) => s.replace(/\|/g, "\\|");
const duration = (seconds: number) => (seconds === 0 ? "0" : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);

export function renderAlertsTable(alerts: readonly AlertSpec[]): string {
  return [
    "| alert | on | severity | for | fires above / below | where the number comes from |",
    "| --- | --- | --- | --- | --- | --- |",
    ...alerts.map((a) => `| ${a.name}${a.ruleLabels ? ` (${Object.values(a.ruleLabels).join(", ")})` : ""} | ${cell(a.component)} | ${a.severity} | ${duration(a.forSeconds)} | ${cell(a.threshold)} | ${cell(a.source)} |`),
  ].join("\n");
}
