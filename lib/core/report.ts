/**
 * The capacity report written beside the stack: Markdown for people, JSON for tools. Both list
 * every finding of every rule, passed or not, with its numbers.
 */
import type { Finding } from "./budgets/evaluate";
import type { Rule } from "./budgets/rule";
import type { ClusterPlan } from "./model";
import type { Topology } from "./topology";
import { renderCapacityAnswer, type CapacityAnswer } from "./capacity";
import { swarmTarget } from "./placement";
import { hostLoads, moreReplicas } from "./swarm-capacity";

/** On a swarm: what each host may have to carry, and how many more replicas of each spread service its free memory takes. */
export interface HostCapacity {
  readonly host: string;
  readonly roles: readonly string[];
  readonly memoryMiB: number;
  readonly reservedMiB: number;
  readonly freeMiB: number;
  readonly services: readonly string[];
  readonly moreReplicas: Readonly<Record<string, number>>;
}

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

function hostCapacities(topology: Topology): HostCapacity[] | undefined {
  const target = swarmTarget(topology);
  if (!target) return undefined;
  const more = moreReplicas(topology, target);
  return hostLoads(topology, target).map((l, i) => ({
    host: l.host.name,
    roles: l.host.roles,
    memoryMiB: l.host.memoryMiB,
    reservedMiB: l.reservedMiB,
    freeMiB: more[i].freeMiB,
    services: l.lines.map((x) => `${x.service}${x.pinned ? " (pinned)" : ` (up to ${x.replicas})`}`),
    moreReplicas: more[i].more,
  }));
}

export function capacityReport(topology: Topology, plan: ClusterPlan, rules: readonly Rule[], findings: readonly Finding[], headroom: CapacityAnswer): CapacityReport {
  return {
    headroom,
    rules: rules.map((r) => ({ id: r.id, title: r.title, severity: r.severity, measurements: findings.filter((f) => f.ruleId === r.id).length })),
    stack: topology.stackName,
    containers: plan.containers.map((c) => ({ key: c.key, role: c.role, address: c.address, memoryMiB: c.memoryMiB, image: c.image })),
    findings,
    ...(hostCapacities(topology) ? { hosts: hostCapacities(topology) } : {}),
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
  if (r.hosts) {
    out.push("## Swarm hosts", "", "What each host may have to carry (its pinned members, and of each spread service the most replicas it may put on one host), and how many more replicas its free memory takes.", "");
    out.push("| host | roles | memory MiB | reserved MiB | free MiB | services | more replicas that fit |", "| --- | --- | ---: | ---: | ---: | --- | --- |");
    out.push(...r.hosts.map((h) => `| ${h.host} | ${h.roles.join(", ")} | ${h.memoryMiB} | ${h.reservedMiB} | ${h.freeMiB} | ${cell(h.services.join(", "))} | ${cell(Object.entries(h.moreReplicas).map(([s, n]) => `${s} +${n}`).join(", ") || "-")} |`), "");
  }
  out.push("## Containers", "", "| container | role | address | memory MiB | image |", "| --- | --- | --- | ---: | --- |");
  out.push(...r.containers.map((c) => `| ${c.key} | ${c.role} | ${c.address} | ${c.memoryMiB} | ${c.image} |`), "");
  return out.join("\n");
}
