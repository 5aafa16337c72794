import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { Testing } from "cdktf";
import { buildInvenioStack, buildInvenioSwarmStack } from "../examples/invenio/stack";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { evaluateBudgets, STALE_ACKNOWLEDGEMENT } from "../lib/core/budgets/evaluate";
import { capacityAnswer, renderCapacityAnswer } from "../lib/core/capacity";
import { componentsOf, withSettings, type Topology } from "../lib/core/topology";
import type { Rule } from "../lib/core/budgets/rule";
import { RULES } from "../lib/core/budgets/rules";
import { Budgets, Database, LoadBalancer, WebTier } from "../lib";
import { IMAGE, WSGI, newStack } from "./helpers";

test("the seed's question: 200 / 40 per web node = 4 nodes with nothing else connected (processes running 5 requests at once)", () => {
  const stack = newStack();
  const db = new Database(stack, "db", { maxConnections: 200, superuserReservedConnections: 3, memoryMiB: 4096 });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, processes: 8, threads: 5, poolSize: 5, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const nodes = capacityAnswer(stack.topology()).headroom.find((h) => h.constructPath === "test/web" && h.field === "nodes")!;
  // 5 x 40 = 200 would leave nothing for the 3 superuser slots: 4 nodes fit, the fifth fails.
  expect(nodes).toMatchObject({ current: 1, max: 4, stoppedBy: "WS-DB-CONNECTIONS" });
});

test("the invenio example: 2 threads hold 2 connections per process, so 11 UI nodes at most once the others count", () => {
  const answer = capacityAnswer(buildInvenioStack(Testing.app()).topology());
  expect(answer.headroom.find((h) => h.constructPath === "invenio/web" && h.field === "nodes")).toMatchObject({ current: 2, max: 11, stoppedBy: "WS-DB-CONNECTIONS" });
  expect(answer.databases[0]).toMatchObject({ clients: 51, neededMaxConnections: 54 });
  expect(answer.databases[0].neededMemoryMiB).toBeLessThanOrEqual(4096);
  expect(answer.withoutAcknowledgements).toEqual([]);
});

test("the headroom answers with and without acknowledgements, and says where an acknowledged rule would fail", () => {
  const stack = newStack();
  const db = new Database(stack, "db", { maxConnections: 100 });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 4, processes: 8, threads: 5, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  Budgets.of(db).acknowledge("WS-DB-CONNECTIONS", "the web tier never runs at full concurrency");
  const answer = capacityAnswer(stack.topology());
  expect(answer.headroom.find((h) => h.field === "nodes")).toMatchObject({ current: 4, max: 122, stoppedBy: "WS-NET-COLLISIONS" });
  expect(answer.withoutAcknowledgements.find((h) => h.field === "nodes")).toMatchObject({ current: 4, max: 2, stoppedBy: "WS-DB-CONNECTIONS", detail: "db client connections: 160 > 97 connections already" });
  const text = renderCapacityAnswer(answer);
  expect(text).toContain("Without the acknowledgements (an acknowledged overcommit still uses what it counts):");
  expect(text).toContain("| test/web | nodes | 4 | 2 | WS-DB-CONNECTIONS (acknowledged) | db client connections: 160 > 97 connections already |");
});

test("a knob limited by memory names the memory rule", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, processes: 4, processRssMiB: 200, memoryMiB: 1024 });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const processes = capacityAnswer(stack.topology()).headroom.find((h) => h.field === "processes")!;
  expect(processes).toMatchObject({ max: 4, stoppedBy: "WS-APP-MEMORY" });
});

test("the capacity command answers for a stack file, even an over-budget one", () => {
  const root = path.join(__dirname, "..");
  // From source here; the packed bin (plain node on the compiled file) runs in the consumer check of .ci/run.
  const out = execFileSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(root, "bin", "cdktf-webstack.ts"), "capacity", "examples/over-budget/main.ts"], { cwd: root, encoding: "utf8" });
  expect(out).toContain("## Headroom: over-budget");
  expect(out).toMatch(/\| over-budget\/web \| nodes \| 12 \| 11 \| WS-DB-CONNECTIONS \|/);
  expect(out).toMatch(/\| over-budget\/db \| 211 \| 200 \| 214 \|/);
}, 60000);

describe("the probes re-evaluate only the rules that read the knob, and agree with a full evaluation and a scan", () => {
  const full = (t: Topology, path: string, field: string, value: number) =>
    evaluateBudgets(withSettings(t, path, { [field]: value })).filter((f) => f.status === "fail" && f.ruleId !== STALE_ACKNOWLEDGEMENT);
  // The search predicts the crossing from one step and confirms it with two probes; a scan runs every
  // rule at every value from the current one up, with the same evaluation a synth makes.
  const scan = (t: Topology, path: string, field: string, current: number, ceiling: number) => {
    for (let v = current + 1; v <= ceiling; v++) {
      const failed = full(t, path, field, v)[0];
      if (failed) return { max: v - 1, stoppedBy: failed.ruleId };
    }
    return { max: ceiling, stoppedBy: "props schema" };
  };
  const ceilings: Record<string, number> = { nodes: 250, processes: 512, concurrency: 256 };
  test.each([
    ["invenio", () => buildInvenioStack(Testing.app()).topology()],
    ["small-site", () => buildSmallSiteStack(Testing.app()).topology()],
  ])("%s: every knob", (_name, topology) => {
    const t = topology();
    const answer = capacityAnswer(t);
    expect(answer.headroom.length).toBeGreaterThan(1);
    for (const h of answer.headroom) {
      expect(full(t, h.constructPath, h.field, h.max)).toEqual([]);
      if (h.stoppedBy !== "props schema") expect(full(t, h.constructPath, h.field, h.max + 1).map((f) => f.ruleId)).toContain(h.stoppedBy);
      const knob = `${h.constructPath} ${h.field}`;
      expect({ knob, ...scan(t, h.constructPath, h.field, h.current, ceilings[h.field]) }).toEqual({ knob, max: h.max, stoppedBy: h.stoppedBy });
    }
  });
});

test("a rule that does not grow linearly still gets its exact headroom (the prediction is checked, then searched)", () => {
  const stack = newStack();
  const db = new Database(stack, "db", { maxConnections: 500, memoryMiB: 8192 });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, processes: 1, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const square: Rule = {
    id: "TEST-SQUARE",
    title: "nodes squared fit 50",
    severity: "error",
    rationale: "a rule that grows faster than linearly",
    measure: (t) => componentsOf(t, "webTier").map((w) => ({ constructPath: w.path, subject: "nodes squared", used: w.settings.nodes ** 2, limit: 50, unit: "", lines: [], fix: "" })),
  };
  const h = capacityAnswer(stack.topology(), [...RULES, square]).headroom.find((x) => x.field === "nodes")!;
  // 7 x 7 = 49 fits; one step from 1 (1 -> 4) would predict 17.
  expect(h).toMatchObject({ current: 1, max: 7, stoppedBy: "TEST-SQUARE", detail: "at 8: nodes squared 64 > 50 " });
});

test("on a swarm the capacity command answers per host: what each reserves, and how many more replicas of each tier fit", () => {
  const root = path.join(__dirname, "..");
  const out = execFileSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(root, "bin", "cdktf-webstack.ts"), "capacity", "examples/invenio/main.ts"], { cwd: root, encoding: "utf8" });
  const swarm = out.slice(out.indexOf("## Headroom: invenio-swarm"));
  expect(out.indexOf("## Headroom: invenio-swarm")).toBeGreaterThan(0);
  expect(out.slice(0, out.indexOf("## Headroom: invenio-swarm"))).not.toContain("## Swarm hosts");
  // The hosts' reservations are the ones WS-SWARM-HOST-MEMORY checks.
  const stack = buildInvenioSwarmStack(Testing.app());
  const checked = stack.cluster().findings.filter((f) => f.ruleId === "WS-SWARM-HOST-MEMORY");
  expect(checked).toHaveLength(3);
  for (const f of checked) {
    const host = /host (\S+) memory/.exec(f.subject)![1];
    const row = new RegExp(`^\\| ${host} \\| [a-z, ]+ \\| ${f.limit} \\| ${f.used} \\| ${f.limit - f.used} \\| (.*) \\| (.*) \\|$`, "m").exec(swarm);
    expect(row).not.toBeNull();
    // Spread tiers: how many more of each; singletons (beat, the load balancer) are not offered.
    expect(row![2]).toMatch(/web-app \+\d+, web-nginx \+\d+, files-app \+\d+, files-nginx \+\d+, worker \+\d+$/);
  }
  // Turning a knob stops where a host's reservations would overflow.
  expect(swarm).toMatch(/\| invenio-swarm\/web \| nodes \| 2 \| \d+ \| WS-SWARM-HOST-MEMORY \| at \d+: host node-\d memory reservations \d+ > 16384 MiB \|/);
}, 60000);
