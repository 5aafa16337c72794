/**
 * Writes docs/rules.md from the rule definitions; with --check, fails when the file is stale.
 * Usage: npx tsx scripts/rules-doc.ts [--check]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RULES, SWARM_RULES } from "../lib/core/budgets/rules";
import { renderRulesDoc } from "../lib/core/budgets/docs";

const target = path.join(__dirname, "..", "docs", "rules.md");
const wanted = renderRulesDoc([...RULES, ...SWARM_RULES]);
if (process.argv.includes("--check")) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : "";
  if (current !== wanted) {
    console.error("docs/rules.md is stale: run `npm run docs:rules` and commit it.");
    process.exit(1);
  }
  console.log("docs/rules.md is current.");
} else {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, wanted);
  console.log(`wrote ${path.relative(process.cwd(), target)}`);
}
