import { App, Testing } from "cdktf";
import * as os from "node:os";
import * as path from "node:path";
import { BudgetError, Budgets, Database, LoadBalancer, PropsError, WebTier, componentsOf, measured, renderRulesDoc, WebStack, type Rule, type RulePack } from "../lib";
import { IMAGE, WSGI, newStack, readTree, synthApp } from "./helpers";

/** A team's own budget: no web tier runs more than `max` nodes (say, its licence covers that many). */
const nodeCap = (max: number): Rule => ({
  id: "ACME-WEB-NODES",
  title: `Web tiers run at most ${max} nodes`,
  severity: "error",
  warnAt: null,
  rationale: "Our APM licence covers that many hosts per tier.",
  measure: (t) =>
    componentsOf(t, "webTier").map((w) =>
      measured(w, "nodes", { used: w.settings.nodes, limit: max, unit: "nodes", lines: [`nodes = ${w.settings.nodes}`, `licence = ${max}`], fix: `lower nodes of ${w.path}` }),
    ),
});
const acme = (max: number): RulePack => ({ name: "acme-platform", rules: [nodeCap(max)] });

function site(stack: WebStack, nodes: number): void {
  const db = new Database(stack, "db");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes, processes: 2, poolSize: 1, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
}

test("a pack's rule fails synth like a core rule, with its id, arithmetic and fix", () => {
  const stack = newStack({ rulePacks: [acme(3)] });
  site(stack, 4);
  expect(() => stack.cluster()).toThrow(BudgetError);
  expect(() => stack.cluster()).toThrow(/\[test\/web\] ACME-WEB-NODES FAILED: Web tiers run at most 3 nodes\n {2}web nodes: 4 > 3 nodes[\s\S]*fix: lower nodes of test\/web/);
});

test("a passing pack rule is reported beside the core rules, and stops the capacity answer", () => {
  const { dir, stack } = synthApp((app) => {
    const s = new WebStack(app, "packed", { rulePacks: [acme(3)] });
    site(s, 2);
    return s;
  });
  expect(stack.rules.map((r) => r.id)).toContain("ACME-WEB-NODES");
  const tree = readTree(dir);
  expect(tree["capacity.md"]).toMatch(/^\| ACME-WEB-NODES \| packed\/web \| web nodes \| 2 \| 3 nodes \|/m);
  expect(JSON.parse(tree["capacity.json"]).rules.map((r: { id: string }) => r.id)).toContain("ACME-WEB-NODES");
  expect(stack.cluster().answer.headroom.find((h) => h.field === "nodes")).toMatchObject({ current: 2, max: 3, stoppedBy: "ACME-WEB-NODES" });
});

test("a pack's rule can be acknowledged on one construct, with a reason", () => {
  const stack = newStack({ rulePacks: [acme(3)] });
  site(stack, 4);
  Budgets.of(stack.node.findChild("web")).acknowledge("ACME-WEB-NODES", "the licence grows next month, signed");
  expect(stack.cluster().findings.find((f) => f.ruleId === "ACME-WEB-NODES")).toMatchObject({ status: "acknowledged", used: 4 });
});

test("an acknowledgement names only rules the stack runs", () => {
  const stack = newStack();
  site(stack, 1);
  expect(() => Budgets.of(stack.node.findChild("web")).acknowledge("ACME-WEB-NODES", "a pack this stack does not run")).toThrow(
    /unknown rule 'ACME-WEB-NODES'; known rules: WS-DB-CONNECTIONS/,
  );
});

test("bad packs are refused at once, naming the pack, the rule and the field", () => {
  const expectProblems = (packs: RulePack[], problem: RegExp) => {
    try {
      newStack({ rulePacks: packs });
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      expect((e as PropsError).problems.join("\n")).toMatch(problem);
    }
  };
  expectProblems([{ name: "acme", rules: [{ ...nodeCap(3), id: "WS-DB-CONNECTIONS" }] }], /rule pack 'acme' rules.0.id: 'WS-DB-CONNECTIONS' is already defined by pack 'cdktf-webstack'/);
  expectProblems([acme(3), acme(4)], /rule pack 'acme-platform' rules.0.id: 'ACME-WEB-NODES' is already defined by pack 'acme-platform'/);
  expectProblems([{ name: "acme", rules: [{ ...nodeCap(3), id: "acme nodes" }] }], /rules.0.id: 'acme nodes' must be upper case words joined by '-'/);
  expectProblems([{ name: "acme", rules: [{ ...nodeCap(3), rationale: "" }] }], /rules.0.rationale: required/);
  expectProblems([{ name: "acme", rules: [{ ...nodeCap(3), severity: "fatal" as "error" }] }], /rules.0.severity: must be "error" or "warning"/);
});

test("a pack renders its own rules page", () => {
  expect(renderRulesDoc(acme(3).rules)).toContain("## ACME-WEB-NODES\n\n**Web tiers run at most 3 nodes** (error)\n\nOur APM licence covers that many hosts per tier.");
});

test("a warning-severity pack rule over its limit warns and does not fail", () => {
  const stack = newStack({ rulePacks: [{ name: "acme", rules: [{ ...nodeCap(1), severity: "warning" }] }] });
  site(stack, 2);
  expect(stack.cluster().findings.find((f) => f.ruleId === "ACME-WEB-NODES")!.status).toBe("warn");
  expect(JSON.parse(Testing.synth(stack))).toHaveProperty("resource.docker_container");
});

test("the App synth path runs the packs too", () => {
  const app = new App({ outdir: path.join(os.tmpdir(), "webstack-pack-never-written") });
  const stack = new WebStack(app, "packed", { rulePacks: [acme(1)] });
  site(stack, 2);
  expect(() => app.synth()).toThrow(/ACME-WEB-NODES FAILED/);
});
