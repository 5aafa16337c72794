import { Testing, TerraformStack } from "cdktf";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Database, LoadBalancer, PropsError, WebStack, WebTier } from "../lib";
import { budgetFindings, synthWebStack } from "../lib/testing";
import { IMAGE, WSGI } from "./helpers";

function shop(maxConnections = 100): WebStack {
  const stack = new WebStack(Testing.app(), "shop");
  const db = new Database(stack, "db", { maxConnections });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, processes: 4, threads: 5, poolSize: 5, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

test("synthWebStack gives the cdk.tf.json, every rendered file by container and path, and the findings", () => {
  const result = synthWebStack(shop());
  expect(result.tfJson.resource.docker_container["container-lb"].ports).toHaveLength(1);
  expect(result.file("web-1-app", "/etc/webstack/uwsgi.ini")).toContain("processes = 4");
  expect(Object.keys(result.files)).toEqual(expect.arrayContaining(["lb", "db-primary", "web-1-nginx"]));
  expect(result.findings.find((f) => f.ruleId === "WS-DB-CONNECTIONS")).toMatchObject({ used: 40, limit: 97, status: "pass" });
  expect(result.warnings).toEqual([]);
  expect(() => result.file("web-1-app", "/etc/nope")).toThrow(/no rendered file \/etc\/nope in container web-1-app; there are:\n {2}db-primary \/etc\/postgresql\/postgresql.conf\n[\s\S]*\n {2}lb \/usr\/local\/etc\/haproxy\/haproxy.cfg/);
});

test("budgetFindings shows a failure without throwing; synthWebStack throws it as synth does", () => {
  const failing = shop(40);
  expect(budgetFindings(failing).find((f) => f.ruleId === "WS-DB-CONNECTIONS")).toMatchObject({ status: "fail", used: 40, limit: 37 });
  expect(() => synthWebStack(shop(40))).toThrow(/WS-DB-CONNECTIONS FAILED/);
});

test("Testing.synthScope and constructs outside a WebStack fail with a clear message, never an empty result", () => {
  expect(() => Testing.synthScope((scope) => new WebStack(scope, "shop"))).toThrow(/a WebStack is a Terraform stack of its own: create it in the App/);
  expect(() => Testing.synthScope((scope) => new Database(scope, "db"))).toThrow(PropsError);
  expect(() => new Database(new TerraformStack(Testing.app(), "plain"), "db")).toThrow(/\[plain\/db\] invalid props:\n {2}- must be created inside a WebStack/);
});

test("warnings reach cdktf with their path once", () => {
  const stack = shop(45);
  Testing.synth(stack);
  const db = stack.node.findChild("db");
  const warnings = db.node.metadata.filter((m) => m.type === "@cdktf/warn").map((m) => String(m.data));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/^WS-DB-CONNECTIONS near its limit/);
});

describe("synthOrExit on the command line", () => {
  const root = path.join(__dirname, "..");
  const run = (code: string) => {
    fs.mkdirSync(path.join(root, ".scratch"), { recursive: true });
    const dir = fs.mkdtempSync(path.join(root, ".scratch", "synth-"));
    fs.writeFileSync(path.join(dir, "main.ts"), code.replace(/LIB/g, JSON.stringify(path.join(root, "lib"))));
    const r = spawnSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(dir, "main.ts")], { cwd: dir, encoding: "utf8", env: { ...process.env, CDKTF_OUTDIR: path.join(dir, "out") } });
    fs.rmSync(dir, { recursive: true, force: true });
    return r;
  };
  const stackCode = (server: string) => `import { synthOrExit, WebStack, WebTier, LoadBalancer } from LIB;
synthOrExit((app) => { const s = new WebStack(app, "shop"); const web = new WebTier(s, "web", { image: "app:1", wsgiModule: "a.b:c", server: ${JSON.stringify(server)} as never }); new LoadBalancer(s, "lb", { defaultTarget: web }); });`;

  test("success prints one summary (stack, containers, budgets, where the files went) and each warning once", () => {
    const r = run(stackCode("uwsgi"));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^shop: 5 containers; budgets: \d+ passed, 1 warned, 0 acknowledged\n {2}wrote cdk.tf.json, capacity.md and configs\/ to out\/stacks\/shop\n$/);
    expect(r.stderr.match(/WS-APP-DATABASE/g)).toHaveLength(2);
    expect(r.stderr).toContain("\nwarning: [shop/web] WS-APP-DATABASE over its limit (a warning rule): A web tier is wired to a database, or says it needs none\n");
  }, 60000);

  test("a props error prints its message alone and exits 1", () => {
    const r = run(stackCode("apache"));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('[shop/web] invalid props:\n  - server: Invalid option: expected one of "uwsgi"|"gunicorn"');
  }, 60000);
});
