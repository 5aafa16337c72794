/**
 * What the swarm failover e2e asks the swarm: where each member's task runs, each member's role (asked
 * inside its container on its own node's engine), Patroni's view of the cluster, a switchover, bounded
 * writers through the load balancer from the swarm's bridge namespace, and a host's kill. The Docker
 * API socket is module state (useSocket): every helper here sets it, and gives it back to `manager`.
 */
import { execFile, execFileSync } from "node:child_process";
import type { Handle } from "./applier";
import { serviceTasks } from "./apply-swarm";
import { call, demux, request, useSocket } from "./docker-api";
import { writersOver, type Writers } from "./failover-probes";
import { exec } from "./observe";
import { containersOf, nodeSocket } from "./swarm-observe";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The node the suite talks to; another one once a host was killed. */
let manager = 1;
export const setManager = (n: number) => (manager = n);
const back = () => useSocket(nodeSocket(manager));

type Node = { ID: string; Status: { Addr: string; State: string } };
/** Node number (1-3) from its address 10.231.0.1N (swarm.sh). */
const numberOf = (node: Node) => Number(node.Status.Addr.slice(-1));

/** The node (1-3) each service's running task is on; undefined for a service with none. */
export async function nodesOfServices(handle: Handle, names: readonly string[]): Promise<Record<string, number | undefined>> {
  back();
  const nodes = await call<Node[]>("GET", "/nodes");
  const out: Record<string, number | undefined> = {};
  for (const name of names) {
    const id = handle.swarm!.services.find((s) => s.name === name)!.id;
    const [task] = (await serviceTasks(id)).filter((t) => t.Status.State === "running");
    const node = task && nodes.find((n) => n.ID === task.NodeID);
    out[name] = node ? numberOf(node) : undefined;
  }
  return out;
}

/** Runs `cmd` in the service's container on node `n`; exit code -1 when the node or container does not answer. */
export async function execIn(n: number, service: string, cmd: string[], user = "postgres"): Promise<{ exitCode: number; output: string }> {
  try {
    useSocket(nodeSocket(n));
    const [c] = await containersOf(service);
    if (!c) return { exitCode: -1, output: "no container" };
    return await exec(c.Id, cmd, user);
  } catch (e) {
    return { exitCode: -1, output: String(e) };
  } finally {
    back();
  }
}

/** "f" writable, "t" standby, "" not answering. */
export async function recoveryOn(n: number, service: string): Promise<string> {
  const r = await execIn(n, service, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atqc", "select pg_is_in_recovery()"]);
  return r.exitCode === 0 ? r.output.trim() : "";
}

/** A psql query's output on the member (database `db`); throws when it fails. */
export async function psqlOn(n: number, service: string, db: string, sql: string): Promise<string> {
  const r = await execIn(n, service, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", db, "-Atqc", sql]);
  if (r.exitCode !== 0) throw new Error(`psql on ${service} (n${n}): ${r.output}`);
  return r.output.trim();
}

export interface PatroniMember {
  readonly name: string;
  readonly role: string;
  readonly state: string;
}

/** GET /cluster of the member's Patroni REST API, asked from inside it (it listens on every address of the task). */
export async function patroniCluster(n: number, service: string): Promise<PatroniMember[]> {
  const py = "import urllib.request,json\nprint(urllib.request.urlopen('http://127.0.0.1:8008/cluster', timeout=3).read().decode())";
  const r = await execIn(n, service, ["python3", "-c", py]);
  if (r.exitCode !== 0) return [];
  try {
    return (JSON.parse(r.output) as { members: PatroniMember[] }).members;
  } catch {
    return [];
  }
}

/** POST /switchover on the leader's REST API (basic auth: Patroni's API user), from inside the leader. */
export async function switchover(n: number, service: string, leader: string, candidate: string, password: string): Promise<string> {
  const py = [
    "import urllib.request,json,base64",
    `req = urllib.request.Request('http://127.0.0.1:8008/switchover', data=json.dumps({'leader': ${JSON.stringify(leader)}, 'candidate': ${JSON.stringify(candidate)}}).encode(), method='POST')`,
    `req.add_header('Authorization', 'Basic ' + base64.b64encode(b'patroni:' + ${JSON.stringify(password)}.encode()).decode())`,
    "req.add_header('Content-Type', 'application/json')",
    "try:\n  r = urllib.request.urlopen(req, timeout=30); print(r.status, r.read().decode())\nexcept urllib.error.HTTPError as e:\n  print(e.code, e.read().decode())",
  ].join("\n");
  return (await execIn(n, service, ["python3", "-c", py])).output.trim();
}

/** Two bounded writers: POST /hits through the load balancer from the bridge namespace. */
export function swarmWriters(url: string, maxMs: number): Writers {
  const post = () =>
    new Promise<{ status: number; body: string }>((resolve) =>
      execFile("nsenter", ["--net=/var/run/netns/wsw-br", "curl", "-s", "-X", "POST", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}", url], { encoding: "utf8", timeout: 35_000 }, (_e, out) => {
        const text = String(out ?? "");
        const i = text.lastIndexOf("\n");
        resolve({ status: Number(text.slice(i + 1)) || 0, body: text.slice(0, Math.max(0, i)) });
      }),
    );
  return writersOver(post, maxMs);
}

/**
 * A host fails at once: SIGKILL to its dockerd, containerd, shims and every container process (as
 * swarm-scenarios' killScenario does). Returns the kill's time and what was killed.
 */
export async function killHost(n: number): Promise<{ t: number; daemons: number; containers: number }> {
  useSocket(nodeSocket(n));
  const cs = await call<Array<{ Id: string }>>("GET", "/containers/json");
  const pids: number[] = [];
  for (const c of cs) pids.push((await call<{ State: { Pid: number } }>("GET", `/containers/${c.Id}/json`)).State.Pid);
  back();
  const daemons = execFileSync("ip", ["netns", "pids", `wsw-${n}`], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
  const t = Date.now();
  for (const pid of [...daemons, ...pids]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone already */
    }
  }
  return { t, daemons: daemons.length, containers: pids.length };
}

/** When the swarm marks node `n` down, asked from the manager in use; -1 if not within `timeoutMs`. */
export async function nodeDownAfter(n: number, since: number, timeoutMs: number): Promise<number> {
  back();
  while (Date.now() - since < timeoutMs) {
    const nodes = await call<Node[]>("GET", "/nodes").catch(() => [] as Node[]); // no Raft leader yet
    if (nodes.find((x) => numberOf(x) === n)?.Status.State === "down") return Date.now() - since;
    await sleep(500);
  }
  return -1;
}

/** The service's container log lines on node `n` from `sinceMs` on, with Docker's timestamps; those matching `re`. */
export async function logLinesOn(n: number, service: string, sinceMs: number, re: RegExp): Promise<string[]> {
  try {
    useSocket(nodeSocket(n));
    const [c] = await containersOf(service);
    if (!c) return [];
    const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1&timestamps=1&tail=400`);
    const since = new Date(sinceMs).toISOString().slice(0, 19);
    const lines = demux(res.body).combined.split("\n");
    return [`(${lines.length} lines in the tail)`, ...lines.filter((l) => l.slice(0, 19) >= since && re.test(l))];
  } catch (e) {
    return [String(e)];
  } finally {
    back();
  }
}
