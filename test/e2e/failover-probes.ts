/**
 * What the failover scenarios ask the cluster: each member's role, Patroni's REST API, a sampler of
 * writable members, bounded writers through the load balancer, and which acknowledged writes a
 * member lacks. Every loop is bounded in count and time; traffic goes to 127.0.0.1 or into the
 * suite's own containers (docker exec).
 */
import { exec } from "./applier";
import { psql, req, sleep } from "./scenarios";

export interface Member {
  readonly name: string;
  readonly key: string;
  readonly address: string;
}

/** "f" writable, "t" standby, "" not answering (stopped, starting, or refusing). */
export async function recovery(name: string): Promise<string> {
  const r = await exec(name, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atqc", "select pg_is_in_recovery()"], "postgres").catch(() => ({
    exitCode: -1,
    output: "",
  }));
  return r.exitCode === 0 ? r.output.trim() : "";
}

export async function writableOf<M extends Member>(members: readonly M[]): Promise<M[]> {
  const states = await Promise.all(members.map(async (m) => [m, await recovery(m.name)] as const));
  return states.filter(([, s]) => s === "f").map(([m]) => m);
}

/** HTTP status of a GET to a member's Patroni REST API, asked from inside that member (python3 ships with Patroni); 0 when unreachable. */
export async function patroniApi(m: Member, path: string): Promise<number> {
  const py = `import urllib.request,sys\ntry:\n  print(urllib.request.urlopen('http://${m.address}:8008${path}', timeout=2).status)\nexcept urllib.error.HTTPError as e:\n  print(e.code)\nexcept Exception:\n  print(0)`;
  const r = await exec(m.name, ["python3", "-c", py], "postgres").catch(() => ({ exitCode: -1, output: "0" }));
  return Number(r.output.trim() || 0);
}

/** The body of a GET to a member's Patroni REST API (for example `/cluster`: roles, lag, timeline, the synchronous standby), for a failure's log. */
export async function patroniBody(m: Member, path: string): Promise<string> {
  const py = `import urllib.request\ntry:\n  print(urllib.request.urlopen('http://${m.address}:8008${path}', timeout=2).read().decode())\nexcept Exception as e:\n  print(e)`;
  const r = await exec(m.name, ["python3", "-c", py], "postgres").catch((e) => ({ exitCode: -1, output: String(e) }));
  return r.output.trim();
}

/**
 * Waits until Patroni has registered a synchronous standby (a member with role `sync_standby` in GET
 * /cluster) and returns the seconds waited. In synchronous mode Patroni promotes only a standby named
 * in its /sync key: right after a failover, until the new leader has named one (once a standby
 * streams from it), a second loss of the leader is not failed over automatically, by design.
 */
export async function waitSyncStandby(members: readonly Member[], timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    for (const m of members) {
      try {
        const cluster = JSON.parse(await patroniBody(m, "/cluster")) as { members: { role: string }[] };
        if (cluster.members.some((x) => x.role === "sync_standby")) return (Date.now() - t0) / 1000;
      } catch {
        // not answering yet, or not JSON: ask the next member
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no synchronous standby registered within ${timeoutMs} ms`);
}

/** Asks every member twice a second, until stopped or `until`, and records any sample with two writable. */
export class WritableSampler {
  readonly overlaps: string[] = [];
  samples = 0;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly members: readonly Member[]) {}

  start(until: number): void {
    this.stopped = false;
    this.running = (async () => {
      while (!this.stopped && Date.now() < until) {
        const w = await writableOf(this.members);
        this.samples++;
        if (w.length > 1) this.overlaps.push(`${new Date().toISOString()} ${w.map((m) => m.name).join(" + ")}`);
        await sleep(500);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

export interface Acked {
  readonly id: number;
  readonly t: number;
  readonly addr: string;
}

export interface Writers {
  readonly acked: Acked[];
  readonly errors: Record<string, number>;
  readonly stop: () => Promise<void>;
}

/** Two bounded writers, each sending `post` (a POST /hits) in turn; acknowledged ids with their time and server, other answers counted. */
export function writersOver(post: () => Promise<{ status: number; body: string }>, maxMs: number): Writers {
  const acked: Acked[] = [];
  const errors: Record<string, number> = {};
  let stop = false;
  const deadline = Date.now() + maxMs;
  const writer = async () => {
    for (let i = 0; i < 20_000 && !stop && Date.now() < deadline; i++) {
      const r = await post();
      if (r.status === 201) {
        const b = JSON.parse(r.body) as { id: number; server: { addr: string } };
        acked.push({ id: b.id, t: Date.now(), addr: b.server.addr });
      } else {
        const k = `${r.status} ${r.body.trim().slice(0, 200)}`;
        errors[k] = (errors[k] ?? 0) + 1;
        await sleep(100);
      }
    }
  };
  const done = Promise.all([writer(), writer()]);
  return {
    acked,
    errors,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** Two bounded writers: POST /hits through the load balancer on 127.0.0.1:`port`. */
export function startWriters(port: number, maxMs: number): Writers {
  return writersOver(() => req(port, "POST", "/hits", {}, 30_000).catch((e: Error) => ({ status: 0, body: e.message })), maxMs);
}

/** The acknowledged ids the table `hits` of database `db` on `on` lacks. */
export async function lostOf(acked: readonly Acked[], on: string, db: string): Promise<number[]> {
  const ids = acked.map((a) => a.id);
  if (ids.length === 0) return [];
  const present = await psql(on, db, `select id from hits where id = any('{${ids.join(",")}}'::bigint[]) order by id`);
  const have = new Set(present.split("\n").filter(Boolean).map(Number));
  return ids.filter((id) => !have.has(id));
}
