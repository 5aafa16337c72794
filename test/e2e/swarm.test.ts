/**
 * The swarm target on a real three-node Docker Swarm (test/e2e/swarm.sh: three dockerd, each in its own
 * network namespace, three managers). Synthesizes a stack for the three hosts, applies the exact
 * cdk.tf.json through the manager with the test applier (each service waits for convergence: all its
 * replicas running and healthy), sends a bounded number of requests through the load balancer's
 * host-mode port from the swarm's bridge namespace, and counts in each node's nginx logs where they
 * were served. Everything is removed in afterAll, also after a failure; the host's iptables are
 * compared before and after.
 */
import { App } from "cdktf";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Cache, Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { acquireSuiteLock, apply, destroy, ensureImages, generateVariables, releaseSuiteLock, startEngine, stopEngine, type Handle } from "./applier";
import { serviceTasks } from "./apply-swarm";
import { call, demux, request, useSocket } from "./docker-api";
import { describeE2e } from "./session";

const HERE = __dirname;
const RUN = process.env.WEBSTACK_SWARM_RUN ?? "/run/webstack-swarm";
const nodeSocket = (n: number) => `${RUN}/n${n}/docker.sock`;
const HTTP_PORT = 8080;
const REQUESTS = 60;
const log = (...a: unknown[]) => process.stdout.write(`[swarm] ${a.join(" ")}\n`);
const swarmSh = (...args: string[]) => execFileSync(path.join(HERE, "swarm.sh"), args, { encoding: "utf8", timeout: 15 * 60_000 });

function buildStack(app: App): WebStack {
  const stack = new WebStack(app, "swarm-shop", {
    target: { kind: "swarm", hosts: [1, 2, 3].map((n) => ({ name: `n${n}`, memoryMiB: 6144, cpus: 2, roles: ["manager" as const, "edge" as const, "data" as const, "app" as const] })) },
  });
  const db = new Database(stack, "db", { replicas: 1, memoryMiB: 1024, maxConnections: 60, sharedBuffersMiB: 128 });
  const cache = new Cache(stack, "cache", { memoryMiB: 256 });
  const web = new WebTier(stack, "web", { image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", nodes: 3, processes: 2, threads: 2, database: db, cache });
  new LoadBalancer(stack, "lb", { defaultTarget: web, httpPort: HTTP_PORT, maxconn: 200 });
  return stack;
}

/** One HTTP request from the swarm's bridge namespace (curl there; the host has no route into it). */
function curl(url: string): { status: number; body: string } {
  const out = execFileSync("nsenter", ["--net=/var/run/netns/wsw-br", "curl", "-s", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url], { encoding: "utf8", timeout: 15_000 });
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

describeE2e("e2e: the swarm target on a real three-node swarm", () => {
  let outdir = "";
  let handle: Handle | undefined;
  let locked = false;
  let engine = false;
  let swarmUp = false;
  let iptablesBefore = "";

  beforeAll(async () => {
    await acquireSuiteLock();
    locked = true;
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-swarm-"));
    const app = new App({ outdir });
    buildStack(app);
    app.synth();
    iptablesBefore = execFileSync("iptables", ["-S"], { encoding: "utf8" });
    log(startEngine().trim());
    engine = true;
    const images = ["webstack-example-app:0.1", "postgres:15", "redis:7.0", "nginx:1.22", "haproxy:2.6"];
    ensureImages(images);
    const t0 = Date.now();
    swarmUp = true;
    log(swarmSh("up").trim());
    log(`swarm of 3 managers up in ${Date.now() - t0} ms`);
    const t1 = Date.now();
    swarmSh("load", ...images);
    log(`images copied into 3 nodes in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    useSocket(nodeSocket(1));
    if (handle) await destroy(handle).catch((e) => log(`destroy failed: ${e}`));
    useSocket();
    if (swarmUp) {
      try {
        log(swarmSh("down").trim());
      } catch (e) {
        log(`swarm down: ${(e as Error).message}`);
      }
    }
    if (engine && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") log(stopEngine().trim());
    const after = execFileSync("iptables", ["-S"], { encoding: "utf8" });
    if (iptablesBefore && after !== iptablesBefore) log(`HOST IPTABLES CHANGED:\n${after}`);
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
    if (locked) releaseSuiteLock();
    expect(after).toBe(iptablesBefore);
  });

  test("every service converges healthy; requests through the load balancer are served by web replicas on at least two hosts", async () => {
    const tfJson = path.join(outdir, "stacks", "swarm-shop", "cdk.tf.json");
    useSocket(nodeSocket(1));
    const t0 = Date.now();
    handle = await apply(tfJson, generateVariables(tfJson));
    log(`applied ${handle.swarm!.services.length} services, ${handle.swarm!.configs.length} configs, ${handle.swarm!.secrets.length} secrets; all converged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const nodes = await call<Array<{ ID: string; Status: { Addr: string } }>>("GET", "/nodes");
    const addr = new Map(nodes.map((n) => [n.ID, n.Status.Addr]));
    const placement: Record<string, string[]> = {};
    for (const s of handle.swarm!.services) placement[s.name] = (await serviceTasks(s.id)).map((t) => `${addr.get(t.NodeID)}:${t.Status.State}`);
    log(`tasks: ${JSON.stringify(placement)}`);
    const lbAt = placement["swarm-shop-lb"][0].split(":")[0];

    let ok = 0;
    const statuses: Record<number, number> = {};
    for (let i = 0; i < REQUESTS; i++) {
      const r = curl(`http://${lbAt}:${HTTP_PORT}/hits?write=1`);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 201) ok++;
    }
    log(`${REQUESTS} requests to http://${lbAt}:${HTTP_PORT}/hits?write=1: ${JSON.stringify(statuses)}`);

    // Where they were served: the nginx access log of each node's web-nginx tasks (nginx flushes it every second).
    await new Promise((r) => setTimeout(r, 2500));
    const servedOn: Record<string, number> = {};
    for (const n of [1, 2, 3]) {
      useSocket(nodeSocket(n));
      const filter = encodeURIComponent(JSON.stringify({ label: ["com.docker.swarm.service.name=swarm-shop-web-nginx"] }));
      const cs = await call<Array<{ Id: string }>>("GET", `/containers/json?filters=${filter}`);
      let count = 0;
      for (const c of cs) {
        const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1`);
        count += demux(res.body).combined.split("\n").filter((l) => l.includes("GET /hits?write=1")).length;
      }
      servedOn[`n${n}`] = count;
    }
    useSocket(nodeSocket(1));
    log(`served per host (nginx access log lines): ${JSON.stringify(servedOn)}`);
    expect(ok).toBe(REQUESTS);
    expect(Object.values(servedOn).reduce((a, b) => a + b, 0)).toBe(REQUESTS);
    expect(Object.values(servedOn).filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
  });

  test("draining a host under bounded load moves its tasks, at most 1 % of requests fail, and what landed fits the hosts", async () => {
    expect(handle).toBeDefined();
    useSocket(nodeSocket(1));
    const services = handle!.swarm!.services;
    const byName = new Map(services.map((s) => [s.name, s.id]));
    const nodes = await call<Array<{ ID: string; Status: { Addr: string } }>>("GET", "/nodes");
    const addr = new Map(nodes.map((n) => [n.ID, n.Status.Addr]));
    // A host carrying only spread tasks: a pinned member cannot move (its volume is on its host), and the
    // load balancer's host port is where the clients connect.
    const fixed = new Set<string>();
    for (const name of ["swarm-shop-lb", "swarm-shop-db-primary", "swarm-shop-db-replica-1", "swarm-shop-cache"]) {
      for (const t of await serviceTasks(byName.get(name)!)) fixed.add(t.NodeID);
    }
    const victim = nodes.find((n) => !fixed.has(n.ID));
    expect(victim).toBeDefined();
    const lbAt = addr.get((await serviceTasks(byName.get("swarm-shop-lb")!))[0].NodeID)!;
    log(`draining ${victim!.Status.Addr} (no pinned member, no load balancer) under load through ${lbAt}:${HTTP_PORT}`);

    const wrk = new Promise<string>((resolve, reject) =>
      execFile("nsenter", ["--net=/var/run/netns/wsw-br", "wrk", "-t1", "-c4", "-d40s", "--timeout", "10s", `http://${lbAt}:${HTTP_PORT}/info`], { encoding: "utf8", timeout: 60_000 }, (e, out) =>
        e ? reject(e) : resolve(out),
      ),
    );
    await new Promise((r) => setTimeout(r, 5000));
    const node = await call<{ Version: { Index: number }; Spec: Record<string, unknown> }>("GET", `/nodes/${victim!.ID}`);
    const t0 = Date.now();
    await call("POST", `/nodes/${victim!.ID}/update?version=${node.Version.Index}`, { ...node.Spec, Availability: "drain" });
    let movedMs = -1;
    while (Date.now() - t0 < 120_000) {
      const web = [...(await serviceTasks(byName.get("swarm-shop-web-app")!)), ...(await serviceTasks(byName.get("swarm-shop-web-nginx")!))];
      const running = web.filter((t) => t.Status.State === "running");
      if (running.length === 6 && running.every((t) => t.NodeID !== victim!.ID)) {
        movedMs = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const out = await wrk;
    log(`wrk:\n${out.trim()}`);
    log(`web tasks running again off the drained host ${movedMs} ms after the drain`);
    const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
    log(`failed: ${non2xx} non-2xx + ${socketErrors} socket errors of ${total} = ${(((non2xx + socketErrors) / Math.max(1, total)) * 100).toFixed(2)} %`);

    // Where the tasks landed: at most max_replicas per host, and each host's reservations within its memory.
    const reservedOn = new Map<string, number>();
    const perHost: Record<string, Record<string, number>> = {};
    for (const s of services) {
      const spec = await call<{ Spec: { TaskTemplate: { Resources?: { Reservations?: { MemoryBytes?: number } }; Placement?: { MaxReplicas?: number } } } }>("GET", `/services/${s.id}`);
      const mem = (spec.Spec.TaskTemplate.Resources?.Reservations?.MemoryBytes ?? 0) / 1024 / 1024;
      const max = spec.Spec.TaskTemplate.Placement?.MaxReplicas ?? Infinity;
      const counts = new Map<string, number>();
      for (const t of (await serviceTasks(s.id)).filter((x) => x.Status.State === "running")) {
        counts.set(t.NodeID, (counts.get(t.NodeID) ?? 0) + 1);
        reservedOn.set(t.NodeID, (reservedOn.get(t.NodeID) ?? 0) + mem);
      }
      for (const [n, c] of counts) {
        (perHost[addr.get(n)!] ??= {})[s.name] = c;
        expect(c).toBeLessThanOrEqual(max);
      }
    }
    log(`after the drain: ${JSON.stringify(perHost)}; reserved MiB per host: ${JSON.stringify(Object.fromEntries([...reservedOn].map(([n, m]) => [addr.get(n), m])))}`);
    for (const m of reservedOn.values()) expect(m).toBeLessThanOrEqual(6144);
    const back = await call<{ Version: { Index: number }; Spec: Record<string, unknown> }>("GET", `/nodes/${victim!.ID}`);
    await call("POST", `/nodes/${victim!.ID}/update?version=${back.Version.Index}`, { ...back.Spec, Availability: "active" });
    expect(movedMs).toBeGreaterThan(0);
    expect(total).toBeGreaterThan(100);
    expect((non2xx + socketErrors) / total).toBeLessThanOrEqual(0.01);
  });
});
