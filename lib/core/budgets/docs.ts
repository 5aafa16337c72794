/** docs/rules.md, generated from the rule definitions (scripts/rules-doc.ts writes or checks it). */
import type { Rule } from "./rule";

export function renderRulesDoc(rules: readonly Rule[]): string {
  const out = [
    "# Budget rules",
    "",
    "<!-- Generated from lib/core/budgets/rules/ by `npm run docs:rules`. Do not edit by hand. -->",
    "",
    "Every rule runs at synth on every construct it applies to. An `error` rule over its limit fails synth;",
    "a passing measurement above the warning share of its limit is reported as a warning. A finding names",
    "the construct path, shows its arithmetic line by line, and says what to change.",
    "",
    "A deliberate overcommit can be acknowledged for one rule on one construct, with a reason:",
    "`Budgets.of(construct).acknowledge(\"WS-DB-CONNECTIONS\", \"why\")`. The acknowledgement and its reason",
    "appear in the capacity report; one that matches no failing or warning finding fails synth as `WS-ACK-UNUSED`.",
    "",
    "| id | severity | warns above | title |",
    "| --- | --- | --- | --- |",
    ...rules.map((r) => `| [${r.id}](#${r.id.toLowerCase()}) | ${r.severity} | ${r.warnAt === null ? "never" : r.warnAt === undefined ? "stack's warnAtFraction (80 %)" : `${Math.round(r.warnAt * 100)} %`} | ${r.title} |`),
    "",
  ];
  for (const r of rules) {
    out.push(`## ${r.id}`, "", `**${r.title}** (${r.severity})`, "", r.rationale, "");
  }
  return out.join("\n");
}
