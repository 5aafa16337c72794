/**
 * The live figures beside the model's: per server, each budgeted share with what it holds now, the
 * clients the model does not name, and the total against the rule's limit; per HAProxy server its
 * sessions against its maxconn; per container its memory against its limit. Pure.
 */
import type { HaproxyServerStat, PgActivity } from "./parse";
import type { TopPlan, TopServer } from "./plan";

/** A reading of one daemon: its value, or why it could not be read. */
export type Reading<T> = { readonly value: T; readonly error?: undefined } | { readonly error: string; readonly value?: undefined };

export interface LiveReadings {
  /** "Docker 20.10.24": the engine read. */
  readonly engine: string;
  /** Names of the stack's containers running now. */
  readonly running: readonly string[];
  /** By container key: connections by application_name. */
  readonly postgres: Readonly<Record<string, Reading<PgActivity>>>;
  /** By container key: clients by address. */
  readonly redis: Readonly<Record<string, Reading<Readonly<Record<string, number>>>>>;
  readonly rabbitmq: Readonly<Record<string, Reading<Readonly<Record<string, number>>>>>;
  readonly haproxy: Readonly<Record<string, Reading<readonly HaproxyServerStat[]>>>;
  /** By container name. */
  readonly memory: Reading<Readonly<Record<string, { readonly usedMiB: number; readonly limitMiB: number }>>>;
}

export interface TopRow {
  /** A tier's application_name or construct path, a backend/server, a container key. */
  readonly who: string;
  readonly live: number | null;
  /** The model's figure for this row: the tier's share, the server's maxconn, the container's limit. */
  readonly model: number | null;
  /** Where the model's figure comes from, or what else was seen (peak, queue, the engine's limit). */
  readonly note: string;
  readonly over: boolean;
  /** Of `live`, those running a query now (PostgreSQL); the rest sit idle in their pools. */
  readonly active?: number;
}

export interface TopSection {
  readonly rule: string;
  readonly component: string;
  /** The container read, by key. */
  readonly container: string;
  readonly unit: string;
  readonly rows: readonly TopRow[];
  readonly total?: { readonly live: number | null; readonly model: number; readonly limit: number; readonly limitText: string; readonly over: boolean };
  readonly error?: string;
  readonly note?: string;
}

export interface TopReport {
  readonly stack: string;
  readonly engine: string;
  readonly sections: readonly TopSection[];
}

const row = (who: string, live: number | null, model: number | null, note: string): TopRow => ({ who, live, model, note, over: live !== null && model !== null && live > model });

/**
 * Each share beside what its key holds live. Shares with one key (a tier's nodes, its release, its
 * beat) add up; a share without a key (PgBouncer's pools, an additional client) has no live figure
 * of its own; live clients no share names come last, with no model figure.
 */
function clientRows(server: TopServer, live: Readonly<Record<string, number>>, unnamed: (key: string) => string, active?: Readonly<Record<string, number>>): TopRow[] {
  const withActive = (r: TopRow, key: string): TopRow => (active ? { ...r, active: active[key] ?? 0 } : r);
  const rows: TopRow[] = [];
  const keys = new Set<string>();
  for (const share of server.shares) {
    if (share.key === undefined) {
      rows.push(row(share.source, null, share.count, `${share.formula} (not told apart live)`));
      continue;
    }
    if (keys.has(share.key)) continue;
    keys.add(share.key);
    const same = server.shares.filter((s) => s.key === share.key);
    const model = same.reduce((n, s) => n + s.count, 0);
    rows.push(withActive(row(share.key, live[share.key] ?? 0, model, same.map((s) => `${s.source}: ${s.formula} = ${s.count}`).join("; ")), share.key));
  }
  for (const [key, n] of Object.entries(live).sort(([a], [b]) => a.localeCompare(b))) {
    if (!keys.has(key) && n > 0) rows.push(withActive(row(unnamed(key), n, null, "not in the model's clients"), key));
  }
  return rows;
}

function clientSection(server: TopServer, reading: Reading<Readonly<Record<string, number>>> | undefined, unnamed: (key: string) => string, note?: string, active?: Readonly<Record<string, number>>): TopSection {
  const base = { rule: server.rule, component: server.component, container: server.key, unit: "connections", ...(note ? { note } : {}) };
  const model = server.shares.reduce((n, s) => n + s.count, 0);
  if (!reading || reading.error !== undefined) {
    return { ...base, rows: [], total: { live: null, model, limit: server.limit, limitText: server.limitText, over: false }, error: reading?.error ?? "not read" };
  }
  const live = Object.values(reading.value).reduce((n, x) => n + x, 0);
  return { ...base, rows: clientRows(server, reading.value, unnamed, active), total: { live, model, limit: server.limit, limitText: server.limitText, over: live > server.limit } };
}

export function compareLive(plan: TopPlan, r: LiveReadings): TopReport {
  const byAddress = new Map(plan.containers.map((c) => [c.address, c.constructPath]));
  // Redis and RabbitMQ see addresses: a client's container names the tier (its construct path).
  const byPath = (live: Readonly<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const [address, n] of Object.entries(live)) {
      const key = byAddress.get(address) ?? (address === "127.0.0.1" || address === "::1" ? "(inside the container)" : `${address} (not in the model)`);
      out[key] = (out[key] ?? 0) + n;
    }
    return out;
  };
  const mapped = (x: Reading<Readonly<Record<string, number>>> | undefined) => (x?.value ? { value: byPath(x.value) } : x);
  const unnamedNote = plan.monitored ? undefined : "application_name is set only in monitored stacks (Monitoring): here every tier's connections show under (no application_name)";
  const sections: TopSection[] = [
    ...plan.databases.map((s) => {
      const pg = r.postgres[s.key];
      return clientSection(s, pg?.value ? { value: pg.value.open } : pg, (k) => (k === "" ? "(no application_name)" : k), unnamedNote, pg?.value?.active);
    }),
    ...plan.redis.map((s) => clientSection(s, mapped(r.redis[s.key]), (k) => k)),
    ...plan.rabbitmq.map((s) => clientSection(s, mapped(r.rabbitmq[s.key]), (k) => k)),
    ...plan.loadBalancers.map((lb): TopSection => {
      const base = { rule: "WS-LB-SERVER-MAXCONN", component: lb.component, container: lb.key, unit: "sessions" };
      const reading = r.haproxy[lb.key];
      if (!reading || reading.error !== undefined) return { ...base, rows: [], error: reading?.error ?? "not read" };
      const stats = reading.value;
      const rows = lb.servers.map((s) => {
        const live = stats.find((x) => x.backend === s.backend && x.server === s.server);
        if (!live) return row(`${s.backend}/${s.server}`, null, s.maxconn, "not in HAProxy's stats");
        const notes = [`peak ${live.smax}`, `queued ${live.qcur}`, live.status, ...(live.slim !== null && live.slim !== s.maxconn ? [`HAProxy's maxconn is ${live.slim}`] : [])];
        return row(`${s.backend}/${s.server}`, live.scur, s.maxconn, notes.join(", "));
      });
      const extra = stats.filter((x) => !lb.servers.some((s) => s.backend === x.backend && s.server === x.server));
      return { ...base, rows: [...rows, ...extra.map((x) => row(`${x.backend}/${x.server}`, x.scur, null, "not in the model"))] };
    }),
    memorySection(plan, r),
  ];
  return { stack: plan.stack, engine: r.engine, sections };
}

function memorySection(plan: TopPlan, r: LiveReadings): TopSection {
  const base = { rule: "memoryMiB", component: plan.stack, container: "(every container)", unit: "MiB", note: "live: docker stats (the cgroup's usage less its inactive file cache); limit: the container's memoryMiB" };
  if (r.memory.error !== undefined) return { ...base, rows: [], error: r.memory.error };
  const stats = r.memory.value;
  const rows = plan.containers.map((c) => {
    const live = stats[c.name];
    if (!live) return row(c.key, null, c.memoryMiB, r.running.includes(c.name) ? "no figure from docker stats" : "not running");
    // docker stats prints 4 significant digits (2.062GiB): a limit within 1 % is the same limit.
    const differs = Math.abs(live.limitMiB - c.memoryMiB) > c.memoryMiB / 100;
    const notes = [
      `${Math.round((live.usedMiB / c.memoryMiB) * 100)} % of the limit`,
      ...(c.estimate ? [`${c.estimate.rule} estimates ${c.estimate.mib} MiB at most`] : []),
      ...(differs ? [`the engine's limit is ${Math.round(live.limitMiB)} MiB`] : []),
    ];
    return row(c.key, Math.round(live.usedMiB * 10) / 10, c.memoryMiB, notes.join(", "));
  });
  return { ...base, rows };
}
