import * as fs from "node:fs";
import * as path from "node:path";
import { RULES } from "../lib";
import { renderRulesDoc } from "../lib/core/budgets/docs";
import { SWARM_RULES } from "../lib/core/budgets/rules";

test("docs/rules.md is generated from the rule definitions and current", () => {
  const doc = renderRulesDoc([...RULES, ...SWARM_RULES]);
  for (const r of [...RULES, ...SWARM_RULES]) expect(doc).toContain(`## ${r.id}`);
  expect(fs.readFileSync(path.join(__dirname, "..", "docs", "rules.md"), "utf8")).toBe(doc);
});
