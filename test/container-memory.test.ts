/**
 * Every container's memory in a monitored stack: the cgroup parent that names each container, the
 * stats exporter's read-only view of the host's cgroup tree, its `containers` job and the two alerts;
 * nothing of it without Monitoring; and the rendered script, run with the host's python3, reading fake
 * cgroup trees laid out as cgroup v1 + cgroupfs (the e2e engine) and v2 + systemd (Debian 12's default).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Testing } from "cdktf";
import { buildInvenioStack, buildInvenioSwarmStack } from "../examples/invenio/stack";
import { Database, LoadBalancer, Monitoring, WebTier, type WebStack } from "../lib";
import { APP_MEMORY } from "../lib/core/budgets/rules/memory";
import { cgroupDirOf } from "../lib/core/plan/cgroups";
import { renderStatsExporterScript, renderStatsExporterTargets, type CgroupTarget } from "../lib/core/render/stats-exporter";
import { IMAGE, WSGI, fileOf, newStack, synthJson } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");
const MiB = 1024 * 1024;

function site(monitoring?: object, id = "test"): WebStack {
  const stack = newStack({}, id);
  const db = new Database(stack, "db", { replicas: 0 });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, database: db, release: ["python3 manage.py migrate --noinput"] });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  if (monitoring) new Monitoring(stack, "monitoring", monitoring);
  return stack;
}
const containersOf = (stack: WebStack) => Object.values(synthJson(stack).resource.docker_container) as any[];

describe("every container's memory, from the model", () => {
  test("monitoring on: each container's cgroup parent names it, for the driver asked; the exporter binds /sys/fs/cgroup read-only", () => {
    for (const [driver, parent] of [
      ["systemd", (k: string) => `webstack-test-${k}.slice`],
      ["cgroupfs", (k: string) => `/webstack/test/${k}`],
    ] as const) {
      const stack = site(driver === "systemd" ? {} : { cgroupDriver: driver });
      const plan = stack.cluster().plan;
      expect(plan.containers.map((c) => c.cgroupParent)).toEqual(plan.containers.map((c) => parent(c.key)));
      const tf = containersOf(stack);
      expect(Object.fromEntries(tf.map((c) => [c.name, c.cgroup_parent]))).toEqual(Object.fromEntries(plan.containers.map((c) => [c.name, parent(c.key)])));
      // One host path in the whole stack: the exporter's, read-only; it publishes nothing.
      const binds = tf.flatMap((c) => (c.volumes ?? []).filter((v: any) => v.host_path).map((v: any) => [c.name, v]));
      expect(binds).toEqual([["test-monitoring-stats-exporter", { host_path: "/sys/fs/cgroup", container_path: "/host/sys/fs/cgroup", read_only: true }]]);
      const exporter = plan.containers.find((c) => c.role === "stats-exporter")!;
      expect([exporter.user, exporter.publishes, exporter.env]).toEqual(["65534:65534", [], {}]);
      // The targets file: every container but the one-shot release, at its parent's directory, with the limit the model gave it.
      const list = JSON.parse(fileOf(stack, exporter.key, "/etc/webstack-exporter/targets.json")).containers.list;
      expect(plan.containers.filter((c) => c.oneShot).map((c) => c.key)).toEqual(["web-release"]);
      expect(list).toEqual(plan.containers.filter((c) => !c.oneShot).map((c) => ({ key: c.key, name: c.name, dir: cgroupDirOf(driver, "test", c.key), limit_bytes: c.memoryMiB * MiB })));
    }
  });

  test("a systemd slice nests in the one named by its name up to each '-'", () => {
    expect(cgroupDirOf("systemd", "small-site", "web-1-app")).toBe(
      "webstack.slice/webstack-small.slice/webstack-small-site.slice/webstack-small-site-web.slice/webstack-small-site-web-1.slice/webstack-small-site-web-1-app.slice",
    );
    expect(cgroupDirOf("cgroupfs", "small-site", "web-1-app")).toBe("webstack/small-site/web-1-app");
  });

  test("monitoring off: no cgroup parent and no host path anywhere; the swarm target (which refuses Monitoring) has none either", () => {
    for (const stack of [site(), buildInvenioSwarmStack(Testing.app())]) {
      expect(stack.cluster().plan.containers.filter((c) => c.cgroupParent !== undefined || c.hostMounts !== undefined)).toEqual([]);
      expect(JSON.stringify(synthJson(stack))).not.toMatch(/cgroup_parent|host_path/);
    }
  });

  test("a slice name systemd refuses (a doubled '-') fails at synth, naming the prop; cgroupfs takes it", () => {
    expect(() => site({}, "a--b").cluster()).toThrow(/cgroupDriver: 'systemd' needs .*webstack-a--b-db-primary\.slice/);
    expect(site({ cgroupDriver: "cgroupfs" }, "a--b").cluster().plan.containers[0].cgroupParent).toBe("/webstack/a--b/db-primary");
    expect(() => site({ cgroupDriver: "cgroupv3" })).toThrow(/cgroupDriver/);
  });

  test("the containers job scrapes the exporter's /containers; the alert reads the WS-*-MEMORY share of the model's limit", () => {
    const stack = buildInvenioStack(Testing.app());
    const prom = (f: string) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", `/etc/prometheus/${f}`));
    const plan = stack.cluster().plan;
    const exporter = plan.containers.find((c) => c.role === "stats-exporter")!;
    expect(prom("prometheus.yml").scrape_configs.find((j: any) => j.job_name === "containers")).toEqual({
      job_name: "containers",
      metrics_path: "/containers",
      static_configs: [{ targets: [`${exporter.address}:9117`], labels: { instance: exporter.key, component: "invenio/monitoring" } }],
    });
    const rules = prom("alerts.yml").groups.flatMap((g: any) => g.rules);
    const near = rules.find((r: any) => r.alert === "ContainerNearMemoryLimit");
    expect(APP_MEMORY.warnAt).toBe(0.9);
    expect([near.expr, near.for]).toEqual(['container_memory_working_set_bytes{job="containers"} > 0.9 * webstack_container_memory_model_limit_bytes{job="containers"}', "2m"]);
    expect(rules.find((r: any) => r.alert === "ContainerMemoryUnread").expr).toBe('webstack_container_cgroup_found{job="containers"} == 0');
  });
});

/** Prometheus text to a map of `name{labels}` -> value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^(\S+) (-?[0-9.e+-]+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

function get(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: p, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

const ID = (n: number) => n.toString(16).padStart(64, "0");
const write = (dir: string, files: Record<string, string>) => {
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), v);
};

describe.each([
  ["v1", "cgroupfs"],
  ["v2", "systemd"],
  ["v2", "cgroupfs"],
] as const)("the rendered exporter on a fake cgroup %s tree (%s parents)", (version, driver) => {
  let dir = "";
  let port = 0;
  let py: ChildProcess | undefined;
  const targets: CgroupTarget[] = ["web-1-app", "db-primary", "gone"].map((key) => ({ key, name: `s-${key}`, dir: cgroupDirOf(driver, "s", key), limitBytes: 256 * MiB }));

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cgroup-tree-"));
    const root = path.join(dir, "cgroup");
    const base = version === "v1" ? path.join(root, "memory") : root;
    if (version === "v2") write(root, { "cgroup.controllers": "cpu memory pids\n" });
    const leaf = (key: string, id: number) => path.join(base, cgroupDirOf(driver, "s", key), driver === "systemd" ? `docker-${ID(id)}.scope` : ID(id));
    const cgroup = (usage: number, limit: string, inactive: number): Record<string, string> =>
      version === "v1"
        ? { "memory.usage_in_bytes": `${usage}\n`, "memory.limit_in_bytes": `${limit}\n`, "memory.stat": `cache 1\ninactive_file ${inactive}\ntotal_inactive_file ${inactive}\n` }
        : { "memory.current": `${usage}\n`, "memory.max": `${limit}\n`, "memory.stat": `anon 1\ninactive_file ${inactive}\n` };
    // An older cgroup of web-1-app lingers beside the running one: the newest is read.
    write(leaf("web-1-app", 1), cgroup(1, String(256 * MiB), 0));
    await new Promise((r) => setTimeout(r, 20));
    write(leaf("web-1-app", 2), cgroup(200 * MiB, String(256 * MiB), 30 * MiB));
    // No limit: v1 writes about 2^63, v2 "max".
    write(leaf("db-primary", 3), cgroup(10 * MiB, version === "v1" ? "9223372036854771712" : "max", 20 * MiB));
    // A parent without its container's cgroup (it stopped): "gone" is not found.
    fs.mkdirSync(path.join(base, cgroupDirOf(driver, "s", "gone")), { recursive: true });
    const spec = JSON.parse(renderStatsExporterTargets({ uwsgi: [], memcached: [] }, {}, targets));
    spec.containers.root = root;
    fs.writeFileSync(path.join(dir, "targets.json"), JSON.stringify(spec));
    fs.writeFileSync(path.join(dir, "exporter.py"), renderStatsExporterScript());
    port = await freePort();
    py = spawn("python3", ["-u", path.join(dir, "exporter.py"), `--port=${port}`, `--targets=${path.join(dir, "targets.json")}`], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await get(port, "/-/healthy").catch(() => ({ status: 0 }))).status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the exporter did not answer /-/healthy within 10 s");
  });

  afterAll(() => {
    py?.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("usage, working set (usage less inactive file, at least 0), the cgroup's limit, the model's, found or not", async () => {
    const r = await get(port, "/containers");
    expect(r.status).toBe(200);
    const m = parse(r.body);
    const l = (key: string) => `{container="${key}",name="s-${key}"}`;
    expect(Object.fromEntries([...m].filter(([k]) => !k.startsWith("webstack_exporter_probe")))).toEqual({
      webstack_cgroup_version: version === "v1" ? 1 : 2,
      [`webstack_container_memory_model_limit_bytes${l("web-1-app")}`]: 256 * MiB,
      [`webstack_container_cgroup_found${l("web-1-app")}`]: 1,
      [`container_memory_usage_bytes${l("web-1-app")}`]: 200 * MiB,
      [`container_memory_working_set_bytes${l("web-1-app")}`]: 170 * MiB,
      [`container_spec_memory_limit_bytes${l("web-1-app")}`]: 256 * MiB,
      [`webstack_container_memory_model_limit_bytes${l("db-primary")}`]: 256 * MiB,
      [`webstack_container_cgroup_found${l("db-primary")}`]: 1,
      [`container_memory_usage_bytes${l("db-primary")}`]: 10 * MiB,
      [`container_memory_working_set_bytes${l("db-primary")}`]: 0,
      [`webstack_container_memory_model_limit_bytes${l("gone")}`]: 256 * MiB,
      [`webstack_container_cgroup_found${l("gone")}`]: 0,
    });
  });
});
