/**
 * The scenario bodies of the swarm e2e (swarm.test.ts keeps the swarm's lifecycle and the tests):
 * the stack, bounded traffic from the swarm's bridge namespace, and what each scenario does to the
 * swarm and measures. Each talks to a node's engine through its socket (useSocket).
 */
import { App } from "cdktf";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Cache, Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import type { Handle } from "./applier";
import { serviceTasks } from "./apply-swarm";
import { call, demux, request, useSocket } from "./docker-api";
import { exec } from "./observe";
import { containersOf, nginxLinesOf, nodeSocket, pressureSampler, proxiedFailures, unusualHaproxyLines, uwsgiRecycles } from "./swarm-observe";

export { nodeSocket };

export const HTTP_PORT = 8080;
export const ROLES = [["app"], ["edge", "data", "app"], ["data", "app"]] as const;
export const REQUESTS = 60;
export const log = (...a: unknown[]) => process.stdout.write(`[swarm] ${a.join(" ")}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A migration as a release step: the app's own schema, made before any web node runs. */
export const RELEASE_STEP = `python3 -c "from webstack_example import wsgi; c = wsgi.db_cursor('primary'); wsgi._ensure_schema(c.__enter__()); c.__exit__(None, None, None); print('release: hits table ready')"`;

export function buildStack(app: App): WebStack {
  const stack = new WebStack(app, "swarm-shop", {
    // n1 carries only spread tasks (it can always be drained); n2 the load balancer; the PostgreSQL
    // primary and standby one each on n2 and n3.
    target: { kind: "swarm", hosts: [1, 2, 3].map((n) => ({ name: `n${n}`, memoryMiB: 6144, cpus: 2, roles: ["manager" as const, ...ROLES[n - 1]] })) },
  });
  const db = new Database(stack, "db", { replicas: 1, memoryMiB: 1024, maxConnections: 60, sharedBuffersMiB: 128 });
  const cache = new Cache(stack, "cache", { memoryMiB: 256 });
  const web = new WebTier(stack, "web", {
    image: "webstack-example-app:0.1",
    wsgiModule: "webstack_example.wsgi:application",
    nodes: 3,
    processes: 2,
    threads: 2,
    database: db,
    cache,
    release: [RELEASE_STEP],
  });
  new LoadBalancer(stack, "lb", { defaultTarget: web, httpPort: HTTP_PORT, maxconn: 200 });
  return stack;
}

/** One HTTP request from the swarm's bridge namespace (curl there; the host has no route into it). */
export function curl(url: string): { status: number; body: string } {
  const out = execFileSync("nsenter", ["--net=/var/run/netns/wsw-br", "curl", "-s", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url], { encoding: "utf8", timeout: 15_000 });
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

/** wrk from the bridge namespace for `seconds`: requests, failures (non-2xx and socket errors) and its output. */
export function load(url: string, seconds: number): Promise<{ total: number; failed: number; out: string }> {
  return new Promise((resolve, reject) =>
    execFile("nsenter", ["--net=/var/run/netns/wsw-br", "wrk", "-t1", "-c4", `-d${seconds}s`, "--timeout", "10s", url], { encoding: "utf8", timeout: (seconds + 20) * 1000 }, (e, out) => {
      if (e) return reject(e);
      const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({ total, failed: non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0), out });
    }),
  );
}

type Node = { ID: string; Status: { Addr: string } };
const nodesOf = () => call<Node[]>("GET", "/nodes");
const servicesOf = (handle: Handle) => new Map(handle.swarm!.services.map((s) => [s.name, s.id]));


/** Rows of `hits` on the primary (found on whichever node runs it); -1 when the table does not exist. */
export async function primaryHits(handle: Handle, nodes: Node[], back: number): Promise<number> {
  const [task] = await serviceTasks(servicesOf(handle).get("swarm-shop-db-primary")!);
  const n = Number(nodes.find((x) => x.ID === task.NodeID)!.Status.Addr.slice(-1));
  useSocket(nodeSocket(n));
  const [pg] = await containersOf("swarm-shop-db-primary");
  const r = await exec(pg.Id, ["psql", "-h", "/var/run/postgresql", "-d", "app", "-tAc", "select case when to_regclass('hits') is null then -1 else (select count(*) from hits) end"], "postgres");
  useSocket(nodeSocket(back));
  return Number(r.output.trim());
}

/**
 * The release ran before the web nodes: its task is running idle once its steps succeeded (its log
 * says so), the app service was created after that task became healthy, and the table its step made
 * is there before any request.
 */
export async function releaseRanFirst(handle: Handle): Promise<{ log: string; createdAfterMs: number; hits: number }> {
  useSocket(nodeSocket(1));
  const byName = servicesOf(handle);
  const [task] = await serviceTasks(byName.get("swarm-shop-web-release")!);
  const t = await call<{ NodeID: string; Status: { State: string; Timestamp: string } }>("GET", `/tasks/${task.ID}`);
  const app = await call<{ CreatedAt: string }>("GET", `/services/${byName.get("swarm-shop-web-app")!}`);
  const nodes = await nodesOf();
  const n = Number(nodes.find((x) => x.ID === t.NodeID)!.Status.Addr.slice(-1));
  useSocket(nodeSocket(n));
  const [c] = await containersOf("swarm-shop-web-release");
  const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1`);
  useSocket(nodeSocket(1));
  const hits = await primaryHits(handle, nodes, 1);
  expect(t.Status.State).toBe("running");
  return { log: demux(res.body).combined.trim(), createdAfterMs: Date.parse(app.CreatedAt) - Date.parse(t.Status.Timestamp), hits };
}


/** Drains a host that carries only spread tasks, under load through the load balancer; where everything landed after. */
export async function drainScenario(handle: Handle) {
  useSocket(nodeSocket(1));
  const services = handle.swarm!.services;
  const byName = servicesOf(handle);
  const nodes = await nodesOf();
  const addr = new Map(nodes.map((n) => [n.ID, n.Status.Addr]));
  // A host carrying only spread tasks: a pinned member cannot move (its volume is on its host), and the
  // load balancer's host port is where the clients connect.
  const fixed = new Set<string>();
  for (const name of ["swarm-shop-lb", "swarm-shop-db-primary", "swarm-shop-db-replica-1", "swarm-shop-cache"]) {
    for (const t of await serviceTasks(byName.get(name)!)) fixed.add(t.NodeID);
  }
  const victim = nodes.find((n) => !fixed.has(n.ID));
  if (!victim) throw new Error("no host carries only spread tasks");
  const lbAt = addr.get((await serviceTasks(byName.get("swarm-shop-lb")!))[0].NodeID)!;
  log(`draining ${victim.Status.Addr} (no pinned member, no load balancer) under load through ${lbAt}:${HTTP_PORT}`);

  const traffic = load(`http://${lbAt}:${HTTP_PORT}/info`, 40);
  await sleep(5000);
  const node = await call<{ Version: { Index: number }; Spec: Record<string, unknown> }>("GET", `/nodes/${victim.ID}`);
  const t0 = Date.now();
  await call("POST", `/nodes/${victim.ID}/update?version=${node.Version.Index}`, { ...node.Spec, Availability: "drain" });
  let movedMs = -1;
  while (Date.now() - t0 < 120_000) {
    const web = [...(await serviceTasks(byName.get("swarm-shop-web-app")!)), ...(await serviceTasks(byName.get("swarm-shop-web-nginx")!))];
    const running = web.filter((t) => t.Status.State === "running");
    if (running.length === 6 && running.every((t) => t.NodeID !== victim.ID)) {
      movedMs = Date.now() - t0;
      break;
    }
    await sleep(500);
  }
  const { total, failed, out } = await traffic;
  log(`wrk:\n${out.trim()}`);
  log(`web tasks running again off the drained host ${movedMs} ms after the drain`);
  log(`failed: ${failed} of ${total} = ${((failed / Math.max(1, total)) * 100).toFixed(2)} %`);

  // Where the tasks landed: replicas per host against max_replicas, and each host's reservations.
  const reservedOn = new Map<string, number>();
  const perHost: Record<string, Record<string, number>> = {};
  const overMax: string[] = [];
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
      if (c > max) overMax.push(`${s.name} on ${addr.get(n)}: ${c} > ${max}`);
    }
  }
  log(`after the drain: ${JSON.stringify(perHost)}; reserved MiB per host: ${JSON.stringify(Object.fromEntries([...reservedOn].map(([n, m]) => [addr.get(n), m])))}`);
  const back = await call<{ Version: { Index: number }; Spec: Record<string, unknown> }>("GET", `/nodes/${victim.ID}`);
  await call("POST", `/nodes/${victim.ID}/update?version=${back.Version.Index}`, { ...back.Spec, Availability: "active" });
  return { movedMs, total, failed, overMax, reservedMiB: [...reservedOn.values()] };
}

/**
 * What a re-apply does for a changed nginx.conf, under load: the emitter names the new content's
 * config by its hash, the provider creates it (create_before_destroy) and updates the service to it.
 * Measures the roll (most tasks desired at once, fewest running), the failed requests, and logs when
 * each task ran and stopped beside what HAProxy logged that was not a plain 200.
 */
export async function rollScenario(handle: Handle, seconds: number) {
  useSocket(nodeSocket(1));
  const byName = servicesOf(handle);
  const id = byName.get("swarm-shop-web-nginx")!;
  const nodes = await nodesOf();
  const lbNode = (await serviceTasks(byName.get("swarm-shop-lb")!))[0].NodeID;
  const lbAddr = nodes.find((n) => n.ID === lbNode)!.Status.Addr;
  const service = await call<{ Version: { Index: number }; Spec: any }>("GET", `/services/${id}`);
  const ref = service.Spec.TaskTemplate.ContainerSpec.Configs.find((c: any) => c.File.Name === "/etc/nginx/nginx.conf");
  const old = await call<{ Spec: { Data: string } }>("GET", `/configs/${ref.ConfigID}`);
  const content = `${Buffer.from(old.Spec.Data, "base64").toString()}# changed by the swarm e2e\n`;
  const name = `swarm-shop-web-nginx-nginx-conf-${createHash("sha256").update(content).digest("hex").slice(0, 12)}`;
  const created = await call<{ ID: string }>("POST", "/configs/create", { Name: name, Data: Buffer.from(content).toString("base64"), Labels: { "webstack.e2e": "1" } });
  handle.swarm!.configs.push(created.ID);
  const spec = JSON.parse(JSON.stringify(service.Spec));
  spec.TaskTemplate.ContainerSpec.Configs = spec.TaskTemplate.ContainerSpec.Configs.map((c: any) => (c.ConfigID === ref.ConfigID ? { ...c, ConfigID: created.ID, ConfigName: name } : c));

  const pressure = pressureSampler();
  const traffic = load(`http://${lbAddr}:${HTTP_PORT}/info`, seconds);
  await sleep(3000);
  const t0 = Date.now();
  await call("POST", `/services/${id}/update?version=${service.Version.Index}`, spec);
  // The update starts a moment after it is accepted.
  for (let i = 0; i < 40 && ((await call<{ UpdateStatus?: { State: string } }>("GET", `/services/${id}`)).UpdateStatus?.State ?? "") === ""; i++) await sleep(250);
  let maxDesired = 0;
  let minRunning = Infinity;
  let state = "";
  // When each task was first seen running and first seen told to stop, to set beside the failures.
  const seen = new Map<string, { slot?: number; node: string; running?: number; stopping?: number; gone?: number }>();
  while (Date.now() - t0 < (seconds + 20) * 1000) {
    const all = await serviceTasks(id, false);
    const now = Date.now() - t0;
    for (const t of all) {
      const e = seen.get(t.ID) ?? { slot: t.Slot, node: t.NodeID };
      if (t.Status.State === "running" && e.running === undefined) e.running = now;
      if (t.DesiredState !== "running" && e.stopping === undefined) e.stopping = now;
      if (["shutdown", "complete", "failed"].includes(t.Status.State) && e.gone === undefined) e.gone = now;
      seen.set(t.ID, e);
    }
    const tasks = all.filter((t) => t.DesiredState === "running");
    maxDesired = Math.max(maxDesired, tasks.length);
    minRunning = Math.min(minRunning, tasks.filter((t) => t.Status.State === "running").length);
    state = (await call<{ UpdateStatus?: { State: string } }>("GET", `/services/${id}`)).UpdateStatus?.State ?? "";
    if (state !== "updating") break;
    await sleep(250);
  }
  const updatedMs = Date.now() - t0;
  const { total, failed, out } = await traffic;
  const stalls = pressure.stop();
  log(`rolling update of web-nginx: ${state} in ${updatedMs} ms; tasks desired running at most ${maxDesired}, running at least ${minRunning}`);
  log(`wrk during the update:\n${out.trim()}`);
  log(`failed: ${failed} of ${total}`);
  log(`task timeline (ms after the update): ${JSON.stringify([...seen.values()].map((e) => ({ ...e, node: nodes.find((n) => n.ID === e.node)?.Status.Addr })))}`);
  useSocket(nodeSocket(Number(lbAddr.slice(-1))));
  const odd = await unusualHaproxyLines("swarm-shop-lb", Math.floor(t0 / 1000) - 5);
  useSocket(nodeSocket(1));
  log(`HAProxy lines during the roll that were not a plain 200 (status, termination, retries, or over 1 s): ${odd.length}\n${odd.slice(0, 200).join("\n")}`);
  // Where a slow request waited: nginx's request_time against its upstream (the app) time.
  const slow = odd.filter((l) => / \d+\/\d+\/\d+\/\d+\/\d{4,} /.test(l)).map((l) => /request_id=(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x);
  if (slow.length > 0) log(`nginx lines of the ${slow.length} requests over 1 s:\n${(await nginxLinesOf(slow)).join("\n")}`);
  const worst = [...stalls].sort((a, b) => b.cpuMs + b.ioMs - (a.cpuMs + a.ioMs)).slice(0, 8);
  log(`machine stall (PSI some, ms per second) during the roll: worst seconds ${JSON.stringify(worst.map((x) => ({ at: new Date(x.at).toISOString().slice(11, 19), cpu: x.cpuMs, io: x.ioMs })))}; seconds with over 500 ms: ${stalls.filter((x) => x.cpuMs > 500 || x.ioMs > 500).length} of ${stalls.length}`);
  // Where the app servers recycled their workers (uWSGI max-requests) while the load ran.
  const recycles = await uwsgiRecycles("swarm-shop-web-app", Math.floor(t0 / 1000) - 5);
  log(`uWSGI worker recycling during the roll: ${recycles.length} lines\n${recycles.slice(0, 80).join("\n")}`);
  const proxied = proxiedFailures(odd);
  const running = (await serviceTasks(id)).filter((t) => t.Status.State === "running").length;
  return { state, updatedMs, maxDesired, minRunning, running, total, failed, proxied, slow: slow.length };
}

/**
 * A host fails: its dockerd, containerd, shims and every container process, at once (a host with web
 * tasks, not the load balancer's nor the primary's). Returns when it was marked down, when its web
 * tasks ran on the others, the primary's rows before and after, and the node to ask from now on.
 */
export async function killScenario(handle: Handle) {
  useSocket(nodeSocket(1));
  const byName = servicesOf(handle);
  const nodes = await nodesOf();
  const hostOf = async (name: string) => (await serviceTasks(byName.get(name)!)).map((t) => t.NodeID);
  const keep = new Set([...(await hostOf("swarm-shop-lb")), ...(await hostOf("swarm-shop-db-primary"))]);
  const web = [...(await hostOf("swarm-shop-web-app")), ...(await hostOf("swarm-shop-web-nginx"))];
  const victim = nodes.find((n) => !keep.has(n.ID) && web.includes(n.ID) && n.Status.Addr !== "10.231.0.11") ?? nodes.find((n) => !keep.has(n.ID) && web.includes(n.ID));
  if (!victim) throw new Error("no host with web tasks but neither the load balancer nor the primary");
  const n = Number(victim.Status.Addr.slice(-1));
  // Any other node is a manager (three managers) that outlives the kill.
  const manager = n === 1 ? 2 : 1;
  const before = await primaryHits(handle, nodes, manager);
  useSocket(nodeSocket(n));
  const cs = await call<Array<{ Id: string }>>("GET", "/containers/json");
  const pids = [];
  for (const c of cs) pids.push((await call<{ State: { Pid: number } }>("GET", `/containers/${c.Id}/json`)).State.Pid);
  const daemons = execFileSync("ip", ["netns", "pids", `wsw-${n}`], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  useSocket(nodeSocket(manager));
  const t0 = Date.now();
  for (const pid of [...daemons, ...pids]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone already */
    }
  }
  log(`killed host n${n} (${daemons.length} daemon processes, ${pids.length} containers); asking n${manager}`);
  let backMs = -1;
  let downMs = -1;
  while (Date.now() - t0 < 90_000) {
    const state = (await call<Array<{ ID: string; Status: { State: string } }>>("GET", "/nodes")).find((x) => x.ID === victim.ID)!.Status.State;
    if (state === "down" && downMs < 0) downMs = Date.now() - t0;
    const tasks = [...(await serviceTasks(byName.get("swarm-shop-web-app")!)), ...(await serviceTasks(byName.get("swarm-shop-web-nginx")!))];
    if (tasks.filter((t) => t.Status.State === "running" && t.NodeID !== victim.ID).length === 6) {
      backMs = Date.now() - t0;
      break;
    }
    await sleep(500);
  }
  log(`n${n} marked down after ${downMs} ms; 3 web-app and 3 web-nginx tasks running on the other hosts ${backMs} ms after the kill`);
  const after = await primaryHits(handle, await nodesOf(), manager);
  log(`hits on the primary: ${before} before, ${after} after`);
  return { manager, downMs, backMs, before, after };
}
