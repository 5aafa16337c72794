/**
 * Who connects to what, and how many connections each opens at most. One function per server
 * kind; the budget rules, the capacity report and the error messages all read these lines, so
 * the arithmetic exists once.
 */
import { nodesNote } from "./measurement";
import { nodeConnections } from "./connection-model";
import { PATRONI_HELD_CONNECTIONS, PATRONI_TRANSIENT_CONNECTIONS } from "./failover";
import { redisDatabasesUsed } from "./references";
import { poolerDatabases, poolerMaxDbConnections, poolerServerConnections, poolerUsers, type PoolerDatabase } from "./derive";
import {
  POSTGRES_EXPORTER_CONNECTIONS,
  REDIS_EXPORTER_CONNECTIONS,
  STATS_EXPORTER_MEMCACHED_CONNECTIONS,
  STATS_EXPORTER_PGBOUNCER_CONNECTIONS,
  EXPORTER_ROLE,
  monitoringOf,
} from "./monitoring";
import { componentsOf, type CacheModel, type DatabaseModel, type QueueModel, type Topology } from "./topology";

export interface ClientLine {
  /** Construct path of the client tier. */
  readonly source: string;
  /** The arithmetic, e.g. "3 nodes x 8 processes x 2 (the smaller of 2 threads and 5 pool + 0 overflow)". */
  readonly formula: string;
  readonly count: number;
  /** The `application_name` these connections carry in a monitored stack (see monitoring.ts). */
  readonly applicationName?: string;
}

/** Connections a Celery worker container's parent opens to the broker beside its children's: consumer and event/heartbeat. */
export const CELERY_WORKER_BROKER_BASE = 2;
export const CELERY_BEAT_BROKER_CONNECTIONS = 1;
export const FLOWER_BROKER_CONNECTIONS = 2;

/**
 * Connections that reach the PostgreSQL server: the app and worker pools, or, behind a pooler,
 * PgBouncer's own pools; plus the additional clients (exporters, cron jobs) that connect directly.
 */
export function databaseClients(t: Topology, db: DatabaseModel): ClientLine[] {
  const extra = [
    ...db.settings.additionalClients.map((c) => ({ source: `${db.path} (${c.name})`, formula: c.name, count: c.connections })),
    ...exporterDatabaseClients(t),
  ];
  // With failover any member may lead or serve the reads: each counts both pools (through the router).
  if (db.settings.pooler && db.settings.failover) return [...poolerClients(db, "primary"), ...poolerClients(db, "replica-1"), ...extra, ...failoverClients(db)];
  if (db.settings.pooler) return [...poolerClients(db, "primary"), ...extra];
  return [...applicationDatabaseClients(t, db), ...extra, ...failoverClients(db)];
}

/**
 * With failover, what the new parts open on each member: Patroni's own connections and the container's
 * health check (pg_isready holds a backend slot while it is answered). Every member counts them for itself.
 */
export function failoverClients(db: DatabaseModel): ClientLine[] {
  if (!db.settings.failover) return [];
  const count = PATRONI_HELD_CONNECTIONS + PATRONI_TRANSIENT_CONNECTIONS + 1;
  return [
    {
      source: `${db.path} (patroni)`,
      formula: `${PATRONI_HELD_CONNECTIONS} held (HA loop and REST API) + ${PATRONI_TRANSIENT_CONNECTIONS} while a member rejoins (pg_rewind, CHECKPOINT) + 1 health check (pg_isready)`,
      count,
    },
  ];
}

/** The postgres_exporter of each database server, in a monitored stack: it connects to its server directly, never through PgBouncer. */
export function exporterDatabaseClients(t: Topology): ClientLine[] {
  const m = monitoringOf(t);
  if (!m) return [];
  const n = POSTGRES_EXPORTER_CONNECTIONS;
  return [{ source: `${m.path} (postgres_exporter)`, formula: `1 exporter x ${n} connections (its role's CONNECTION LIMIT)`, count: n, applicationName: EXPORTER_ROLE }];
}

/** The redis_exporter of a Redis cache or broker, in a monitored stack. */
function exporterRedisClients(t: Topology, engine: string): ClientLine[] {
  const m = monitoringOf(t);
  if (!m || engine !== "redis") return [];
  return [{ source: `${m.path} (redis_exporter)`, formula: "1 exporter", count: REDIS_EXPORTER_CONNECTIONS }];
}

/** The stats exporter's connection to a memcached cache, in a monitored stack: one per scrape, closed after it. */
function exporterMemcachedClients(t: Topology, engine: string): ClientLine[] {
  const m = monitoringOf(t);
  if (!m || engine !== "memcached") return [];
  return [{ source: `${m.path} (stats exporter)`, formula: "1 connection per scrape", count: STATS_EXPORTER_MEMCACHED_CONNECTIONS }];
}

/** PgBouncer's clients: the app and worker pools, and in a monitored stack the stats exporter's console connection. */
export function poolerClientLines(t: Topology, db: DatabaseModel): ClientLine[] {
  const m = monitoringOf(t);
  const exporter = m ? [{ source: `${m.path} (stats exporter)`, formula: "1 admin console connection per scrape", count: STATS_EXPORTER_PGBOUNCER_CONNECTIONS }] : [];
  return [...applicationDatabaseClients(t, db), ...exporter];
}

/** PgBouncer's pools that reach one server of the database: its databases there x users, each capped by max_db_connections. */
export function poolerClients(db: DatabaseModel, server: PoolerDatabase["server"]): ClientLine[] {
  const s = db.settings;
  const p = s.pooler!;
  const users = poolerUsers(s);
  return poolerDatabases(s)
    .filter((d) => d.server === server)
    .map((d) => ({
      source: `${db.path} (pgbouncer database ${d.name})`,
      formula: `min(${users.length} user${users.length > 1 ? "s" : ""} x (${p.defaultPoolSize} default_pool_size + ${p.reservePoolSize} reserve_pool_size), max_db_connections ${poolerMaxDbConnections(p)})`,
      count: poolerServerConnections(s),
    }));
}

/** Connections the app and worker processes open to their database (or to its pooler). */
export function applicationDatabaseClients(t: Topology, db: DatabaseModel): ClientLine[] {
  const lines: ClientLine[] = [];
  for (const tier of [...componentsOf(t, "webTier"), ...componentsOf(t, "workerTier")].filter((c) => c.database?.path === db.path)) {
    const { processes, unit, per } = nodeConnections(tier);
    const nodes = tier.kind === "webTier" ? `${tier.settings.nodes} nodes${nodesNote(tier.settings)}` : `${tier.settings.nodes} workers`;
    lines.push({ source: tier.path, formula: `${nodes} x ${processes} ${unit} x ${per.formula}`, count: tier.settings.nodes * processes * per.count, applicationName: tier.id });
    // On a swarm a start-first rolling update runs one new replica beside the old ones (parallelism 1).
    if (t.settings.target?.kind === "swarm") {
      lines.push({ source: `${tier.path} (rolling update)`, formula: `1 replica started first x ${processes} ${unit} x ${per.formula}`, count: processes * per.count, applicationName: tier.id });
    }
    if (tier.kind === "workerTier" && tier.settings.beat) {
      lines.push({ source: `${tier.path} (beat)`, formula: `1 beat x ${per.formula}`, count: per.count, applicationName: `${tier.id}-beat` });
    }
    // The release runs one process, one command at a time; when only its commands change it runs beside the nodes' connections.
    const perRequest = tier.settings.connectionsPerRequest;
    if (tier.kind === "webTier" && tier.settings.release.length > 0) {
      lines.push({ source: `${tier.path} (release)`, formula: `1 release container x ${perRequest} connection${perRequest > 1 ? "s" : ""} per command`, count: perRequest, applicationName: tier.id });
    }
  }
  return lines;
}

/**
 * Cache connections (Redis or memcached): a client pool per process grows to one connection per
 * thread in use, and per Redis database the tier uses (each database is a pool of its own).
 */
export function cacheClients(t: Topology, cache: CacheModel): ClientLine[] {
  const lines: ClientLine[] = [];
  const databases = (environment: Readonly<Record<string, string>>) => {
    if (cache.settings.engine !== "redis") return { n: 1, text: "" };
    const used = redisDatabasesUsed(environment, cache.path);
    return { n: used.length, text: used.length > 1 ? ` x ${used.length} Redis databases (${used.join(", ")})` : "" };
  };
  for (const web of componentsOf(t, "webTier").filter((w) => w.cache?.path === cache.path)) {
    const s = web.settings;
    const db = databases(s.environment);
    lines.push({ source: web.path, formula: `${s.nodes} nodes x ${s.processes} processes x ${s.threads} threads${db.text}`, count: s.nodes * s.processes * s.threads * db.n });
  }
  for (const w of componentsOf(t, "workerTier").filter((w) => w.cache?.path === cache.path)) {
    const s = w.settings;
    const db = databases(s.environment);
    lines.push({ source: w.path, formula: `${s.nodes} workers x ${s.concurrency} concurrency${db.text}`, count: s.nodes * s.concurrency * db.n });
  }
  lines.push(...exporterRedisClients(t, cache.settings.engine), ...exporterMemcachedClients(t, cache.settings.engine));
  return lines;
}

/** Broker connections: each app thread may publish on its own connection; workers consume and publish. */
export function brokerClients(t: Topology, queue: QueueModel): ClientLine[] {
  const lines: ClientLine[] = [];
  for (const web of componentsOf(t, "webTier").filter((w) => w.queue?.path === queue.path)) {
    const s = web.settings;
    lines.push({ source: web.path, formula: `${s.nodes} nodes x ${s.processes} processes x ${s.threads} threads (publishers)`, count: s.nodes * s.processes * s.threads });
  }
  for (const w of componentsOf(t, "workerTier").filter((w) => w.queue?.path === queue.path)) {
    const s = w.settings;
    lines.push({
      source: w.path,
      formula: `${s.nodes} workers x (${CELERY_WORKER_BROKER_BASE} consumer/events + ${s.concurrency} children publishing)`,
      count: s.nodes * (CELERY_WORKER_BROKER_BASE + s.concurrency),
    });
    if (s.beat) lines.push({ source: `${w.path} (beat)`, formula: "1 beat", count: CELERY_BEAT_BROKER_CONNECTIONS });
    if (s.flower) lines.push({ source: `${w.path} (flower)`, formula: "1 flower", count: FLOWER_BROKER_CONNECTIONS });
  }
  if (queue.settings.engine === "redis") {
    // Results live in the same Redis: every process that waits for or stores a result holds one more connection.
    for (const web of componentsOf(t, "webTier").filter((w) => w.queue?.path === queue.path)) {
      const s = web.settings;
      lines.push({ source: `${web.path} (result backend)`, formula: `${s.nodes} nodes x ${s.processes} processes x ${s.threads} threads`, count: s.nodes * s.processes * s.threads });
    }
    for (const w of componentsOf(t, "workerTier").filter((w) => w.queue?.path === queue.path)) {
      const s = w.settings;
      lines.push({ source: `${w.path} (result backend)`, formula: `${s.nodes} workers x ${s.concurrency} children`, count: s.nodes * s.concurrency });
    }
  }
  lines.push(...exporterRedisClients(t, queue.settings.engine));
  return lines;
}

export const sumClients = (lines: readonly ClientLine[]) => lines.reduce((n, l) => n + l.count, 0);
