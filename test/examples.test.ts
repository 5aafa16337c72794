import { buildInvenioStack } from "../examples/invenio/stack";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { BudgetError, RULES } from "../lib";
import { readTree, synthApp } from "./helpers";
import { App } from "cdktf";

describe.each([
  ["invenio", buildInvenioStack],
  ["small-site", buildSmallSiteStack],
])("example %s", (_name, build) => {
  const { dir } = synthApp((app) => build(app));
  const tree = readTree(dir);

  test("writes cdk.tf.json, both capacity reports and one config folder per container", () => {
    expect(Object.keys(tree)).toEqual(expect.arrayContaining(["cdk.tf.json", "capacity.md", "capacity.json"]));
    const report = JSON.parse(tree["capacity.json"]);
    const folders = new Set(Object.keys(tree).filter((p) => p.startsWith("configs/")).map((p) => p.split("/")[1]));
    const withFiles = report.containers.filter((c: { key: string; role: string }) => !["celery-worker", "celery-beat", "flower", "memcached", "redis-exporter", "nginx-exporter"].includes(c.role));
    expect([...folders].sort()).toEqual(withFiles.map((c: { key: string }) => c.key).sort());
  });

  test("the report lists every rule, evaluated or not applicable", () => {
    for (const rule of RULES) expect(tree["capacity.md"]).toMatch(new RegExp(`^\\| ${rule.id} \\|`, "m"));
    expect(JSON.parse(tree["capacity.json"]).rules.map((r: { id: string }) => r.id)).toEqual(RULES.map((r) => r.id));
  });

  test("passes every budget rule", () => {
    const report = JSON.parse(tree["capacity.json"]);
    expect(report.findings.filter((f: { status: string }) => f.status === "fail")).toEqual([]);
  });

  test("rendered files match their snapshots", () => {
    for (const [file, content] of Object.entries(tree)) {
      if (file.startsWith("configs/") || file === "capacity.md") expect(content).toMatchSnapshot(file);
    }
  });

  test("synthesizing twice gives identical bytes", () => {
    const again = readTree(synthApp((app) => build(app)).dir);
    expect(again).toEqual(tree);
  });

  test("no rendered file holds a build-machine path, a timestamp or a secret value", () => {
    const text = Object.values(tree).join("\n");
    expect(text).not.toContain(process.cwd());
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT\d\d:/);
    expect(tree["cdk.tf.json"]).not.toMatch(/"default":/);
  });
});

test("the over-budget variant fails with WS-DB-CONNECTIONS and its arithmetic", () => {
  // No outdir is ever written: the budget fails before the synthesizer runs (a run that failed halfway may have left one).
  require("node:fs").rmSync(require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written"), { recursive: true, force: true });
  const app = new App({ outdir: require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written") });
  buildInvenioStack(app, "over-budget", { webNodes: 12 });
  expect(() => app.synth()).toThrow(BudgetError);
  try {
    app.synth();
  } catch (e) {
    const message = (e as Error).message;
    expect(message).toContain("[over-budget/db] WS-DB-CONNECTIONS FAILED");
    expect(message).toContain("over-budget/web: 12 nodes x 8 processes x 2 (the smaller of 2 threads and 5 pool + 0 overflow) = 192");
    expect(message).toContain("usable = max_connections 200 - superuser_reserved_connections 3 = 197");
    expect(message).toContain("211 > 197");
    expect(message).toContain("fix: raise maxConnections of over-budget/db to 214 (check its memoryMiB, WS-DB-MEMORY), or lower nodes of over-budget/web to 11");
  }
  // Nothing of the stack is written (cdktf itself makes the empty stacks/ folder when the App is created).
  const outdir = require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written");
  expect(require("node:fs").existsSync(require("node:path").join(outdir, "stacks", "over-budget"))).toBe(false);
  require("node:fs").rmSync(outdir, { recursive: true, force: true });
});
