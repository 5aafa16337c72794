/**
 * Reusable helpers of the e2e scenarios (cluster.test.ts, invenio.test.ts): HTTP to 127.0.0.1, container
 * logs with timestamps, psql in a container, stop/start, bounded load, memory sampling, wrk, the
 * direct app container (throughput baseline), the connection-budget probe, FIGURE lines. Every loop is bounded in count and time.
 */
import { spawnSync } from "node:child_process";
import * as http from "node:http";
import { E2E_LABEL, exec, inspect } from "./applier";
import { call, demux, request, tar } from "./docker-api";

export const figure = (name: string, value: string | number) => console.log(`FIGURE ${name}: ${value}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Res {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request to 127.0.0.1, no keep-alive (a fresh connection each time). */
export function req(port: number, method: string, urlPath: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Res> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      { host: "127.0.0.1", port, method, path: urlPath, agent: false, headers: { Connection: "close", ...headers }, timeout: timeoutMs },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on("error", reject);
      },
    );
    r.on("timeout", () => r.destroy(new Error(`${method} ${urlPath}: timeout after ${timeoutMs} ms`)));
    r.on("error", reject);
    r.end();
  });
}

/** Up to `tries` attempts 1 s apart until the status is `want`. */
export async function settled(port: number, urlPath: string, want: number, tries = 15): Promise<Res> {
  let last: Res = { status: 0, body: "", headers: {} };
  for (let i = 0; i < tries; i++) {
    last = await req(port, "GET", urlPath).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
    if (last.status === want) return last;
    await sleep(1000);
  }
  return last;
}

/** Container log lines since `sinceMs` with the engine's timestamp (ms). */
export async function logLines(name: string, sinceMs: number): Promise<Array<{ t: number; line: string }>> {
  const since = Math.floor(sinceMs / 1000) - 1;
  const r = await request("GET", `/containers/${encodeURIComponent(name)}/logs?stdout=1&stderr=1&timestamps=1&since=${since}`);
  if (r.status !== 200) throw new Error(`logs of ${name}: ${r.status} ${r.body.toString()}`);
  const out: Array<{ t: number; line: string }> = [];
  for (const l of demux(r.body).combined.split("\n")) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z (.*)$/.exec(l);
    if (!m) continue;
    const t = Date.parse(`${m[1]}.${(m[2] ?? "0").padEnd(3, "0").slice(0, 3)}Z`);
    if (t >= sinceMs) out.push({ t, line: m[3] });
  }
  return out;
}

/** Polls a container's log (every 250 ms, at most timeoutMs) for the first line matching re after sinceMs. */
export async function waitLog(name: string, re: RegExp, sinceMs: number, timeoutMs: number): Promise<{ t: number; line: string } | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < Math.ceil(timeoutMs / 250) + 1 && Date.now() <= deadline; i++) {
    const hit = (await logLines(name, sinceMs)).find((l) => re.test(l.line));
    if (hit) return hit;
    await sleep(250);
  }
  return undefined;
}

export const PSQL = (db: string, sql: string) => ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", db, "-Atqc", sql];

/** psql as the postgres superuser over the unix socket (peer auth); throws on a non-zero exit. */
export async function psql(container: string, db: string, sql: string): Promise<string> {
  const r = await exec(container, PSQL(db, sql), "postgres");
  if (r.exitCode !== 0) throw new Error(`psql in ${container} exited ${r.exitCode}: ${r.output.trim()} (sql: ${sql})`);
  return r.output.trim();
}

export async function stopContainer(name: string): Promise<void> {
  await call("POST", `/containers/${encodeURIComponent(name)}/stop`, undefined, { allow: [304], timeoutMs: 120_000 });
}
export async function startContainer(name: string): Promise<void> {
  await call("POST", `/containers/${encodeURIComponent(name)}/start`, undefined, { allow: [304] });
}

export interface LoadResult {
  total: number;
  failed: number;
  failures: Record<string, number>;
  /** Date.now() of each failed request's end. */
  failedAt: number[];
}

/** `workers` loops of GET urlPath on 127.0.0.1:port, no keep-alive, until stop() or maxMs. */
export function startLoad(port: number, workers: number, urlPath: string, maxMs: number): { stop: () => void; done: Promise<LoadResult> } {
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const result: LoadResult = { total: 0, failed: 0, failures: {}, failedAt: [] };
  const loop = async () => {
    // Bounded in count too: 20 000 requests per worker at most.
    for (let i = 0; i < 20_000 && !stopped && Date.now() < deadline; i++) {
      const r = await req(port, "GET", urlPath, {}, 30_000).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
      result.total++;
      if (r.status !== 200) {
        result.failed++;
        result.failedAt.push(Date.now());
        const k = r.status ? `HTTP ${r.status}` : r.body.slice(0, 80);
        result.failures[k] = (result.failures[k] ?? 0) + 1;
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, loop)).then(() => result);
  return { stop: () => (stopped = true), done };
}

export interface MemPeak {
  samples: number;
  usage: number;
  maxUsage: number;
  workingSet: number;
  limit: number;
}

/** Samples GET /containers/{name}/stats?stream=false&one-shot=true of every container every ~1 s. */
export function startMemorySampler(names: string[], maxMs: number): { stop: () => void; done: Promise<Record<string, MemPeak>> } {
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const peaks: Record<string, MemPeak> = Object.fromEntries(names.map((n) => [n, { samples: 0, usage: 0, maxUsage: 0, workingSet: 0, limit: 0 }]));
  const run = async () => {
    for (let i = 0; i < Math.ceil(maxMs / 1000) + 1 && !stopped && Date.now() < deadline; i++) {
      const t = Date.now();
      await Promise.all(
        names.map(async (n) => {
          const s = await call<{ memory_stats?: { usage?: number; max_usage?: number; limit?: number; stats?: Record<string, number> } }>(
            "GET",
            `/containers/${encodeURIComponent(n)}/stats?stream=false&one-shot=true`,
            undefined,
            { timeoutMs: 10_000 },
          ).catch(() => undefined);
          const m = s?.memory_stats;
          if (!m?.usage) return; // stopped container: no sample
          const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
          const p = peaks[n];
          p.samples++;
          p.usage = Math.max(p.usage, m.usage);
          p.maxUsage = Math.max(p.maxUsage, m.max_usage ?? 0);
          p.workingSet = Math.max(p.workingSet, m.usage - inactive);
          p.limit = m.limit ?? p.limit;
        }),
      );
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
    return peaks;
  };
  return { stop: () => (stopped = true), done: run() };
}

export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  non2xx: number;
  socketErrors: string;
  raw: string;
}

export interface WrkOptions {
  /** wrk -t: client threads (default 2). */
  threads?: number;
  /** wrk -c: open connections, shared by the threads (default 8). */
  connections?: number;
  /** wrk -d: seconds of load (default 5). */
  durationS?: number;
}

/** A bounded wrk run (keep-alive HTTP/1.1 GETs) against a 127.0.0.1 URL. */
export function wrk(url: string, o: WrkOptions = {}): WrkResult {
  const { threads = 2, connections = 8, durationS = 5 } = o;
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`wrk: only http://127.0.0.1 targets, not ${url}`);
  const args = [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, "--latency", url];
  const r = spawnSync("wrk", args, { encoding: "utf8", timeout: durationS * 1000 + 25_000 });
  const raw = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0) throw new Error(`wrk ${url} exited ${r.status}: ${raw}`);
  const ms = (v: string, unit: string) => Number(v) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(raw);
    return m ? ms(m[1], m[2]) : NaN;
  };
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? NaN),
    p50ms: pct("50"),
    p99ms: pct("99"),
    requests: Number(/(\d+) requests in/.exec(raw)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0),
    socketErrors: /Socket errors:.*$/m.exec(raw)?.[0] ?? "none",
    raw,
  };
}

/**
 * TEST-ONLY throughput baseline (cluster.test.ts scenario 9, bench/proxy-chain.ts): the model publishes
 * only the load balancer, so a second container from an app container's image, env, command, user and
 * its deployed gunicorn.conf.py, on the stack network, is published on 127.0.0.1:18000. It is not part
 * of the stack; removeDirectApp removes it.
 */
export const DIRECT_APP = { name: "small-site-e2e-direct-app", port: 18000, address: "172.31.9.99" } as const; // address unused by the model (db 1.x, web 2.x, lb 3.x)

export async function startDirectApp(appContainer: string, network: string, purpose: string): Promise<void> {
  const app = (await inspect(appContainer)) as unknown as {
    Image: string;
    Config: { Env: string[]; Entrypoint: string[] | null; Cmd: string[] | null; User: string; WorkingDir: string };
    HostConfig: { Memory: number; MemorySwap: number };
  };
  const conf = "/etc/webstack/gunicorn.conf.py";
  const arch = await request("GET", `/containers/${appContainer}/archive?path=${encodeURIComponent(conf)}`);
  if (arch.status !== 200) throw new Error(`${conf} of ${appContainer}: ${arch.status} ${arch.body.toString().slice(0, 200)}`);
  const size = parseInt(arch.body.subarray(124, 136).toString("ascii").replace(/\0.*$/, "").trim(), 8);
  const content = arch.body.subarray(512, 512 + size);
  if (!/^bind = /m.test(content.toString())) throw new Error(`${conf} of ${appContainer} has no bind line`);
  await call("DELETE", `/containers/${DIRECT_APP.name}?force=1`, undefined, { allow: [404] });
  const created = await call<{ Id: string }>("POST", `/containers/create?name=${DIRECT_APP.name}`, {
    Image: app.Image,
    Env: app.Config.Env,
    Entrypoint: app.Config.Entrypoint,
    Cmd: app.Config.Cmd,
    User: app.Config.User,
    WorkingDir: app.Config.WorkingDir,
    Labels: { [E2E_LABEL]: "1", "webstack.e2e.purpose": `test-only throughput baseline (${purpose})` },
    ExposedPorts: { "8000/tcp": {} },
    HostConfig: {
      Memory: app.HostConfig.Memory,
      MemorySwap: app.HostConfig.MemorySwap,
      PortBindings: { "8000/tcp": [{ HostIp: "127.0.0.1", HostPort: String(DIRECT_APP.port) }] },
      NetworkMode: network,
    },
    NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: DIRECT_APP.address } } } },
  });
  await call("PUT", `/containers/${created.Id}/archive?path=/`, undefined, { raw: tar([{ path: conf, content, mode: 0o644 }]) });
  await call("POST", `/containers/${created.Id}/start`);
}

export async function removeDirectApp(): Promise<void> {
  await call("DELETE", `/containers/${DIRECT_APP.name}?force=1`, undefined, { allow: [404] });
}

/**
 * Python run in an app container (its DATABASE_URL, so as the app's role): argv[1] = primary address,
 * argv[2] = N. Opens N connections directly to the primary (no target_session_attrs), then tries one
 * more; prints JSON {user, opened, error, extra, held_by_non_superusers}; closes them all.
 */
export const BUDGET_PROBE_PY = [
  "import json, os, sys, psycopg2, psycopg2.extensions",
  "dsn = psycopg2.extensions.parse_dsn(os.environ['DATABASE_URL'])",
  "dsn.pop('target_session_attrs', None)",
  "dsn.update(host=sys.argv[1], port='5432', connect_timeout='5', application_name='e2e-budget')",
  "conns, err, extra = [], None, None",
  "for _ in range(int(sys.argv[2])):",
  "    try: conns.append(psycopg2.connect(**dsn))",
  "    except psycopg2.OperationalError as e: err = str(e).strip(); break",
  "if err is None:",
  "    try: psycopg2.connect(**dsn).close(); extra = 'CONNECTED'",
  "    except psycopg2.OperationalError as e: extra = str(e).strip()",
  "cur = conns[0].cursor() if conns else None",
  "held = None",
  "if cur:",
  "    cur.execute(\"select count(*) from pg_stat_activity a join pg_roles r on r.oid = a.usesysid where a.backend_type = 'client backend' and not r.rolsuper\")",
  "    held = cur.fetchone()[0]",
  "print(json.dumps({'user': dsn.get('user'), 'opened': len(conns), 'error': err, 'extra': extra, 'held_by_non_superusers': held}))",
  "for c in conns: c.close()",
].join("\n");
