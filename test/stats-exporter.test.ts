/**
 * The stats exporter (uWSGI's stats server, memcached): its scrape jobs and container from the model,
 * its alerts from the budgets, and the rendered script's output format, run with the host's python3
 * against stand-ins on 127.0.0.1 that answer as uWSGI 2.0.21 and memcached 1.6 do (the daemon suite
 * runs it against the real daemons).
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Cache, Database, LoadBalancer, Monitoring, WebTier, type WebStack, type WebStackProps } from "../lib";
import { MEMCACHED_CONNECTIONS } from "../lib/core/budgets/rules/clients";
import { renderStatsExporterScript, renderStatsExporterTargets } from "../lib/core/render/stats-exporter";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

function site(o: { server?: "uwsgi" | "gunicorn"; engine?: "redis" | "memcached"; nodes?: number; monitoring?: object; listenBacklog?: number; stack?: WebStackProps } = {}): WebStack {
  const stack = newStack(o.stack ?? {});
  const db = new Database(stack, "db", { replicas: 0 });
  const cache = new Cache(stack, "cache", { engine: o.engine ?? "memcached" });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, server: o.server ?? "uwsgi", nodes: o.nodes ?? 2, processes: 4, threads: 2, database: db, cache, ...(o.listenBacklog ? { listenBacklog: o.listenBacklog } : {}) });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  if (o.monitoring) new Monitoring(stack, "monitoring", o.monitoring);
  return stack;
}
const job = (stack: WebStack, name: string) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/prometheus.yml")).scrape_configs.find((j: any) => j.job_name === name);
const rules = (stack: WebStack, name: string) =>
  yaml.safeLoad(fileOf(stack, "monitoring-prometheus", "/etc/prometheus/alerts.yml")).groups.flatMap((g: any) => g.rules).filter((r: any) => r.alert === name);
const threshold = (expr: string) => Number(/> ([0-9.]+)$/.exec(expr)![1]);

describe("the stats exporter from the model", () => {
  test("one container for the stack, on the internal network, as nobody, in the exporters' memory, with a health check", () => {
    const plan = site({ nodes: 3, monitoring: {} }).cluster().plan;
    const ex = plan.containers.filter((c) => c.role === "stats-exporter");
    expect(ex.map((c) => [c.key, c.image, c.user, c.memoryMiB, c.publishes])).toEqual([["monitoring-stats-exporter", "python:3.11-slim", "65534:65534", 64, []]]);
    expect(ex[0].command).toEqual(["python3", "-u", "/etc/webstack-exporter/exporter.py", "--port=9117", "--targets=/etc/webstack-exporter/targets.json"]);
    expect(ex[0].healthcheck!.test.join(" ")).toContain("http://127.0.0.1:9117/-/healthy");
    const other = site({ monitoring: { exporterImages: { python: "registry.example/python:3.11" } } }).cluster().plan;
    expect(other.containers.find((c) => c.role === "stats-exporter")!.image).toBe("registry.example/python:3.11");
  });

  test("uwsgi and memcached jobs: each target's own address as ?target=, scraped through the exporter, which may read those and no other", () => {
    const stack = site({ monitoring: {} });
    const plan = stack.cluster().plan;
    const at = (key: string) => plan.containers.find((c) => c.key === key)!.address;
    const exporter = `${at("monitoring-stats-exporter")}:9117`;
    const relabel = [{ source_labels: ["__address__"], target_label: "__param_target" }, { target_label: "__address__", replacement: exporter }];
    expect(job(stack, "uwsgi")).toEqual({
      job_name: "uwsgi",
      metrics_path: "/probe",
      params: { module: ["uwsgi"] },
      static_configs: ["web-1-app", "web-2-app"].map((k) => ({ targets: [`${at(k)}:9191`], labels: { instance: k, component: "test/web" } })),
      relabel_configs: relabel,
    });
    expect(job(stack, "memcached")).toEqual({
      job_name: "memcached",
      metrics_path: "/probe",
      params: { module: ["memcached"] },
      static_configs: [{ targets: [`${at("cache")}:11211`], labels: { instance: "cache", component: "test/cache" } }],
      relabel_configs: relabel,
    });
    const targets = JSON.parse(fileOf(stack, "monitoring-stats-exporter", "/etc/webstack-exporter/targets.json"));
    expect({ uwsgi: targets.uwsgi, memcached: targets.memcached }).toEqual({
      uwsgi: [`${at("web-1-app")}:9191`, `${at("web-2-app")}:9191`],
      memcached: [`${at("cache")}:11211`],
    });
    // Beside them, every container's cgroup (test/container-memory.test.ts).
    expect(targets.containers.list.map((c: { key: string }) => c.key)).toEqual(plan.containers.map((c) => c.key));
  });

  test("gunicorn has no stats server, Redis has its own exporter: no uwsgi or memcached target, job or alert", () => {
    const stack = site({ server: "gunicorn", engine: "redis", monitoring: {} });
    // The exporter is still there: it reads every container's memory.
    const targets = JSON.parse(fileOf(stack, "monitoring-stats-exporter", "/etc/webstack-exporter/targets.json"));
    expect([targets.uwsgi, targets.memcached]).toEqual([[], []]);
    expect([job(stack, "uwsgi"), job(stack, "memcached")]).toEqual([undefined, undefined]);
    expect([...rules(stack, "UwsgiListenQueue"), ...rules(stack, "UwsgiStatsDown"), ...rules(stack, "MemcachedEvicting"), ...rules(stack, "MemcachedDown")]).toEqual([]);
    // A uWSGI tier beside Redis: the exporter reads uWSGI only.
    const uwsgiOnly = site({ engine: "redis", monitoring: {} });
    expect(JSON.parse(fileOf(uwsgiOnly, "monitoring-stats-exporter", "/etc/webstack-exporter/targets.json")).memcached).toEqual([]);
  });

  test("a silent stats server or memcached alerts: the probe keeps `up` at 1, so TargetDown never would", () => {
    const stack = site({ monitoring: {} });
    expect(rules(stack, "UwsgiStatsDown").map((r: any) => [r.expr, r.for])).toEqual([['uwsgi_up{job="uwsgi",instance=~"web-1-app|web-2-app"} == 0', "2m"]]);
    expect(rules(stack, "MemcachedDown").map((r: any) => [r.expr, r.for, r.labels.severity])).toEqual([['memcached_up{job="memcached",instance="cache"} == 0', "1m", "critical"]]);
  });

  test("its connection to memcached counts in WS-MEMCACHED-CONNECTIONS", () => {
    const used = (s: WebStack) => s.cluster().findings.find((f) => f.ruleId === MEMCACHED_CONNECTIONS.id)!;
    expect(used(site({ monitoring: {} })).used).toBe(used(site()).used + 1);
    expect(used(site({ monitoring: {} })).lines).toContain("test/monitoring (stats exporter): 1 connection per scrape = 1");
  });

  test("alert thresholds: the listen queue at the warning share of listenBacklog, memcached connections at the share of its limit", () => {
    for (const [warnAtFraction, listenBacklog] of [[0.8, 1024], [0.7, 2048]] as const) {
      const stack = site({ monitoring: {}, listenBacklog, stack: { warnAtFraction } });
      const [queue] = rules(stack, "UwsgiListenQueue");
      expect(threshold(queue.expr)).toBeCloseTo(warnAtFraction * listenBacklog, 6);
      expect(queue.expr).toContain('instance=~"web-1-app|web-2-app"');
      expect(queue.for).toBe("1m");
      expect(rules(stack, "UwsgiListenQueueFull")[0].expr).toBe(
        'uwsgi_socket_listen_queue{job="uwsgi",instance=~"web-1-app|web-2-app"} >= uwsgi_socket_listen_queue_max{job="uwsgi",instance=~"web-1-app|web-2-app"} > 0',
      );
      const mc = stack.cluster().findings.find((f) => f.ruleId === MEMCACHED_CONNECTIONS.id)!;
      expect(threshold(rules(stack, "MemcachedConnectionsHigh")[0].expr)).toBeCloseTo(warnAtFraction * mc.limit, 6);
      expect(rules(stack, "MemcachedEvicting")[0].annotations.source).toMatch(/item memory \d+ MiB/);
    }
  });
});

/** A stand-in uWSGI stats server: the JSON document uWSGI 2.0.21 serves with stats-http (fields it uses). */
const UWSGI_STATS = {
  version: "2.0.21-debian",
  listen_queue: 3,
  listen_queue_errors: 2,
  sockets: [
    { name: "0.0.0.0:8000", proto: "uwsgi", queue: 3, max_queue: 1024, shared: 0, can_offload: 0 },
    { name: "/run/app.sock", proto: "uwsgi", queue: 0, max_queue: 100, shared: 0, can_offload: 0 },
  ],
  workers: [
    { id: 1, status: "busy", requests: 10, exceptions: 1, harakiri_count: 0, respawn_count: 1, cores: [{ id: 0, in_request: 1 }, { id: 1, in_request: 0 }] },
    { id: 2, status: "idle", requests: 5, exceptions: 0, harakiri_count: 1, respawn_count: 3, cores: [{ id: 0, in_request: 0 }, { id: 1, in_request: 0 }] },
    { id: 3, status: "idle", requests: 0, exceptions: 0, harakiri_count: 0, respawn_count: 1, cores: [{ id: 0, in_request: 0 }, { id: 1, in_request: 0 }] },
  ],
};
const MEMCACHED_STATS = ["uptime 42", "max_connections 1024", "curr_connections 7", "total_connections 90", "rejected_connections 0", "get_hits 11", "get_misses 4", "limit_maxbytes 214958080", "listen_disabled_num 0", "bytes 1234", "curr_items 3", "evictions 5"];

const listen = (server: net.Server | http.Server) => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)));
const freePort = async () => {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
};

/** Samples of a text-format body: `name{labels} value`, after their HELP and TYPE lines. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.trimEnd().split("\n")) {
    const t = /^# TYPE (\S+) (gauge|counter)$/.exec(line);
    if (t) typed.add(t[1]);
    if (line.startsWith("#")) continue;
    const m = /^([a-z_]+)(\{[a-z_]+="[^"]*"(?:,[a-z_]+="[^"]*")*\})? (-?[0-9.e+-]+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    if (!typed.has(m[1])) throw new Error(`${m[1]} sampled before its TYPE line`);
    out.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return out;
}

describe("the rendered exporter script (host python3, stand-in daemons on 127.0.0.1)", () => {
  let dir: string;
  let py: ChildProcess;
  let port: number;
  const servers: (net.Server | http.Server)[] = [];
  let uwsgiTarget: string;
  let memcachedTarget: string;
  let deadTarget: string;

  beforeAll(async () => {
    const stats = http.createServer((_req, res) => res.end(JSON.stringify(UWSGI_STATS)));
    const mc = net.createServer((sock) =>
      sock.on("data", (d) => {
        if (d.toString().startsWith("stats")) sock.write(MEMCACHED_STATS.map((l) => `STAT ${l}\r\n`).join("") + "END\r\n");
        else sock.end();
      }),
    );
    servers.push(stats, mc);
    uwsgiTarget = `127.0.0.1:${await listen(stats)}`;
    memcachedTarget = `127.0.0.1:${await listen(mc)}`;
    deadTarget = `127.0.0.1:${await freePort()}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stats-exporter-"));
    fs.writeFileSync(path.join(dir, "exporter.py"), renderStatsExporterScript());
    fs.writeFileSync(path.join(dir, "targets.json"), renderStatsExporterTargets({ uwsgi: [uwsgiTarget, deadTarget], memcached: [memcachedTarget] }, {}, []));
    port = await freePort();
    py = spawn("python3", ["-u", path.join(dir, "exporter.py"), `--port=${port}`, `--targets=${path.join(dir, "targets.json")}`], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await get("/-/healthy").catch(() => ({ status: 0 }))).status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("the exporter did not answer /-/healthy within 10 s");
  });

  afterAll(async () => {
    py?.kill("SIGKILL");
    for (const s of servers) await new Promise((r) => s.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function get(p: string): Promise<{ status: number; body: string; type: string }> {
    return new Promise((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: p, timeout: 10_000 }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"]) }));
      }).on("error", reject);
    });
  }
  const probe = (module: string, target: string) => get(`/probe?module=${module}&target=${encodeURIComponent(target)}`);

  test("uWSGI: up, the listen queue, its errors and backlog, workers by status, request slots, requests, exceptions, respawns", async () => {
    const r = await probe("uwsgi", uwsgiTarget);
    expect([r.status, r.type]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
    const m = parse(r.body);
    // The text format's rule: a family's samples in one block after its HELP and TYPE, whatever order they were read in.
    const families = r.body.split("\n").filter((l) => l !== "").map((l) => (l.startsWith("#") ? l.split(" ")[2] : l.split(/[{ ]/)[0]));
    const blocks = families.filter((f, i) => f !== families[i - 1]);
    expect(blocks).toEqual([...new Set(blocks)]);
    expect(Object.fromEntries([...m].filter(([k]) => k.startsWith("uwsgi_")))).toEqual({
      uwsgi_up: 1,
      uwsgi_listen_queue: 3,
      uwsgi_listen_queue_errors_total: 2,
      'uwsgi_socket_listen_queue{socket="0.0.0.0:8000"}': 3,
      'uwsgi_socket_listen_queue_max{socket="0.0.0.0:8000"}': 1024,
      'uwsgi_socket_listen_queue{socket="/run/app.sock"}': 0,
      'uwsgi_socket_listen_queue_max{socket="/run/app.sock"}': 100,
      'uwsgi_workers{status="idle"}': 2,
      'uwsgi_workers{status="busy"}': 1,
      'uwsgi_workers{status="cheap"}': 0,
      'uwsgi_workers{status="pause"}': 0,
      'uwsgi_workers{status="sig"}': 0,
      uwsgi_cores: 6,
      uwsgi_cores_busy: 1,
      uwsgi_requests_total: 15,
      uwsgi_exceptions_total: 1,
      uwsgi_harakiri_total: 1,
      uwsgi_worker_respawns_total: 2,
    });
    expect(m.get("webstack_exporter_probe_duration_seconds")).toBeLessThan(5);
  });

  test("memcached: up, connections and their limit, bytes and limit_maxbytes, evictions, get hits and misses", async () => {
    const m = parse((await probe("memcached", memcachedTarget)).body);
    expect(Object.fromEntries([...m].filter(([k]) => k.startsWith("memcached_")))).toEqual({
      memcached_up: 1,
      memcached_current_connections: 7,
      memcached_max_connections: 1024,
      memcached_connections_total: 90,
      memcached_connections_rejected_total: 0,
      memcached_connections_listener_disabled_total: 0,
      memcached_current_bytes: 1234,
      memcached_limit_bytes: 214958080,
      memcached_current_items: 3,
      memcached_items_evicted_total: 5,
      'memcached_commands_total{command="get",status="hit"}': 11,
      'memcached_commands_total{command="get",status="miss"}': 4,
      memcached_uptime_seconds: 42,
    });
  });

  test("a target that does not answer is up 0; a target not in the stack's list, or an unknown module, is refused", async () => {
    const down = await probe("uwsgi", deadTarget);
    expect([down.status, parse(down.body).get("uwsgi_up")]).toEqual([200, 0]);
    expect((await probe("uwsgi", "10.0.0.1:9191")).status).toBe(403);
    expect((await probe("memcached", uwsgiTarget)).status).toBe(403);
    expect((await probe("redis", uwsgiTarget)).status).toBe(400);
    expect((await get("/metrics")).status).toBe(404);
  });
});
