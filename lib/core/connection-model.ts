/**
 * How many database connections one app or worker process holds at most, and why. A pooled
 * process (SQLAlchemy's QueuePool, psycopg2's pool) opens a connection only when no idle one is
 * free, so it never holds more than it runs requests (or tasks) at once, whatever its pool allows;
 * a process without a pool opens one per request in flight. Checked against a real PostgreSQL in
 * the daemon suite (test/daemons/connection-model.test.ts).
 */
import type { WebTierModel, WorkerTierModel } from "./topology";

export interface PoolSettings {
  readonly poolSize: number;
  readonly maxOverflow: number;
  readonly connectionPool: "pooled" | "none";
  readonly connectionsPerRequest: number;
}

export interface ProcessConnections {
  /** Connections one process holds at most. */
  readonly count: number;
  /** Which bound applied, e.g. "2 (the smaller of 2 threads and 5 pool + 0 overflow)". */
  readonly formula: string;
}

/**
 * @param concurrent requests or tasks one process runs at once (threads; 1 for a Celery prefork child)
 * @param unit what `concurrent` counts, for the formula ("threads", "task")
 */
export function processConnections(s: PoolSettings, concurrent: number, unit: string): ProcessConnections {
  const perRequest = s.connectionsPerRequest;
  const inFlight = concurrent * perRequest;
  const inFlightText = `${concurrent} ${unit}${perRequest > 1 ? ` x ${perRequest} connections each` : ""}`;
  if (s.connectionPool === "none") return { count: inFlight, formula: `${inFlight} (${inFlightText}, no pool)` };
  const pool = s.poolSize + s.maxOverflow;
  const poolText = `${s.poolSize} pool + ${s.maxOverflow} overflow`;
  const count = Math.min(inFlight, pool);
  return { count, formula: `${count} (the smaller of ${inFlightText} and ${poolText})` };
}

/**
 * Database connections one node (web node or worker container) of a tier holds at most: its app
 * processes, each running `threads` requests at once, or its Celery children, each one task.
 */
export function nodeConnections(tier: WebTierModel | WorkerTierModel): { readonly processes: number; readonly unit: string; readonly per: ProcessConnections } {
  if (tier.kind === "webTier") {
    const s = tier.settings;
    return { processes: s.processes, unit: "processes", per: processConnections(s, s.threads, s.threads === 1 ? "thread" : "threads") };
  }
  // A prefork child runs one task at a time; the parent holds no database connection.
  return { processes: tier.settings.concurrency, unit: "children", per: processConnections(tier.settings, 1, "task") };
}
