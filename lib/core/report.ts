/**
 * The capacity report written beside the stack: Markdown for people, JSON for tools. Both list
 * every finding of every rule, passed or not, with its numbers.
 */
import type { Finding } from "./budgets/evaluate";
import type { Rule } from "./budgets/rule";
import type { ClusterPlan } from "./model";
import type { Topology } from "./topology";
import { renderCapacityAnswer, type CapacityAnswer } from "./capacity";
import type { HostCapacity } from "./swarm-capacity";

export type { HostCapacity } from "./swarm-capacity";

export interface CapacityReport {
  readonly stack: string;
  /** Every rule, with how many measurements it made on this stack (0: nothing it applies to). */
  readonly rules: readonly { id: string; title: string; severity: string; measurements: number }[];
  readonly containers: readonly { key: string; role: string; address: string; memoryMiB: number; image: string }[];
  readonly findings: readonly Finding[];
  readonly headroom: CapacityAnswer;
  /** Only on a swarm target. */
  readonly hosts?: readonly HostCapacity[];
}

export function capacityReport(topology: Topology, plan: ClusterPlan, rules: readonly Rule[], findings: readonly Finding[], headroom: CapacityAnswer): CapacityReport {
  return {
    headroom,
    rules: rules.map((r) => ({ id: r.id, title: r.title, severity: r.severity, measurements: findings.filter((f) => f.ruleId === r.id).length })),
    stack: topology.stackName,
    containers: plan.containers.map((c) => ({ key: c.key, role: c.role, address: c.address, memoryMiB: c.memoryMiB, image: c.image })),
    findings,
    ...(headroom.hosts ? { hosts: headroom.hosts } : {}),
  };
}

export function renderCapacityJson(r: CapacityReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

const cell = (s: string | number) => String(s).replace(/\|/g, "\\|");

export function renderCapacityMarkdown(r: CapacityReport): string {
  const icon = { pass: "ok", warn: "WARN", fail: "FAIL", acknowledged: "ACKNOWLEDGED" } as const;
  const out = [
    `# Capacity report: ${r.stack}`,
    "",
    "Rendered by cdktf-webstack at synth time. Every budget rule, on every construct it applies to.",
    "",
    "## Budgets",
    "",
    "| rule | construct | subject | used | limit | % | status |",
    "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ...r.findings.map((f) => `| ${f.ruleId} | ${cell(f.constructPath)} | ${cell(f.subject)} | ${f.used} | ${f.limit} ${cell(f.unit)} | ${f.percentOfLimit ?? "-"} | ${icon[f.status]} |`),
    ...r.rules.filter((rule) => rule.measurements === 0).map((rule) => `| ${rule.id} | - | ${cell(rule.title)} | - | - | - | not applicable |`),
    "",
    "## Arithmetic",
    "",
  ];
  for (const f of r.findings) {
    out.push(`### ${f.ruleId}: ${f.subject}`, "", `${f.title}. Status: **${icon[f.status]}** (${f.used} of ${f.limit} ${f.unit}).`, "", "```", ...f.lines, "```", "");
    if (f.acknowledgement) out.push(`Acknowledged: ${f.acknowledgement}`, "");
    else if (f.status !== "pass") out.push(`Fix: ${f.fix}`, "");
  }
  out.push(renderCapacityAnswer(r.headroom).replace(/^## Headroom: .*$/m, "## Headroom"));
  out.push("## Containers", "", "| container | role | address | memory MiB | image |", "| --- | --- | --- | ---: | --- |");
  out.push(...r.containers.map((c) => `| ${c.key} | ${c.role} | ${c.address} | ${c.memoryMiB} | ${c.image} |`), "");
  return out.join("\n");
}
