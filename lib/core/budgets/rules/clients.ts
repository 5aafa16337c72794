/** Client-count rules: who connects to each server, against the server's connection limit. */
import { exporterDatabaseClients, brokerClients, cacheClients, databaseClients, poolerClientLines, poolerClients, sumClients, type ClientLine } from "../../clients";
import { nodeConnections } from "../../connection-model";
import { componentsOf, type DatabaseModel, type Topology, type WebTierModel, type WorkerTierModel } from "../../topology";
import { clientBudget, clientLines, measured, type Measurement, type Rule } from "../rule";

/**
 * The least changes that bring `used` under `limit`: max_connections just high enough, or the nodes
 * of the one client tier that needs the fewest removed.
 */
function connectionFix(t: Topology, db: DatabaseModel, used: number, limit: number): string {
  const s = db.settings;
  const options = [`raise maxConnections of ${db.path} to ${used + s.superuserReservedConnections} (check its memoryMiB, WS-DB-MEMORY)`];
  const excess = used - limit;
  const perNode = (c: WebTierModel | WorkerTierModel) => {
    const { processes, per } = nodeConnections(c);
    return processes * per.count;
  };
  const tiers = s.pooler ? [] : [...componentsOf(t, "webTier"), ...componentsOf(t, "workerTier")].filter((c) => c.database?.path === db.path && perNode(c) > 0);
  const smallest = tiers
    .map((c) => ({ c, nodes: c.settings.nodes - Math.ceil(excess / perNode(c)) }))
    .filter((x) => x.nodes >= 1)
    .sort((a, b) => b.nodes / b.c.settings.nodes - a.nodes / a.c.settings.nodes)[0];
  if (excess > 0 && smallest) options.push(`lower nodes of ${smallest.c.path} to ${smallest.nodes}`);
  if (!s.pooler) options.push("put a pooler in front (pooler: {})");
  return options.join(", or ");
}

function connectionMeasurement(db: DatabaseModel, server: string, clients: readonly ClientLine[], fix: (used: number, limit: number) => string): Measurement {
  const s = db.settings;
  const used = sumClients(clients);
  const limit = s.maxConnections - s.superuserReservedConnections;
  return measured(db, `${server}client connections`, {
    used,
    limit,
    unit: "connections",
    lines: [
      ...clientLines(clients),
      `total clients = ${used}`,
      `usable = max_connections ${s.maxConnections} - superuser_reserved_connections ${s.superuserReservedConnections} = ${limit}`,
    ],
    fix: fix(used, limit),
  });
}

export const DB_CONNECTIONS: Rule = {
  id: "WS-DB-CONNECTIONS",
  title: "Database clients fit max_connections minus the superuser reserve",
  severity: "error",
  rationale:
    'Past the limit PostgreSQL answers "sorry, too many clients already". A pooled process holds at most as many connections as it runs requests (or tasks) ' +
    "at once, and never more than its pool and overflow; a process without a pool, one per request in flight (see the connection model in the README). " +
    "A replica takes the same reads a process would send the primary, and has the same max_connections, so the primary's count holds for it; behind PgBouncer " +
    "each server is counted with the pools that reach it. WAL senders are not counted here: since PostgreSQL 12 they have their own slots (see WS-DB-WAL-SENDERS).",
  measure: (t) =>
    componentsOf(t, "database").flatMap((db) => [
      connectionMeasurement(db, "", databaseClients(t, db), (used, limit) => connectionFix(t, db, used, limit)),
      ...(db.settings.pooler && db.settings.replicas > 0 && !db.settings.failover
        ? [connectionMeasurement(db, "replica-1 ", [...poolerClients(db, "replica-1"), ...exporterDatabaseClients(t)], () => `lower pooler.defaultPoolSize or pooler.reservePoolSize of ${db.path}, or raise its maxConnections`)]
        : []),
    ]),
};

export const POOLER_CLIENTS: Rule = {
  id: "WS-POOLER-CLIENTS",
  title: "Clients of a PgBouncer fit its max_client_conn",
  severity: "error",
  rationale:
    "Behind a pooler the app and worker pools connect to PgBouncer, which refuses clients beyond max_client_conn; only its own pools (WS-DB-CONNECTIONS) reach PostgreSQL. " +
    "In a monitored stack the stats exporter's admin console connection counts too.",
  measure: (t) =>
    componentsOf(t, "database").flatMap((db) =>
      db.settings.pooler ? [clientBudget(db, "pgbouncer max_client_conn", poolerClientLines(t, db), db.settings.pooler.maxClientConn, "pooler.maxClientConn")] : [],
    ),
};

export const REDIS_CLIENTS: Rule = {
  id: "WS-REDIS-CLIENTS",
  title: "Redis clients fit maxclients",
  severity: "error",
  rationale: 'Past maxclients Redis closes new connections with "max number of clients reached".',
  measure: (t) => [
    ...componentsOf(t, "cache")
      .filter((c) => c.settings.engine === "redis")
      .map((c) => clientBudget(c, "maxclients", cacheClients(t, c), c.settings.maxClients, "maxClients")),
    ...componentsOf(t, "queue")
      .filter((q) => q.settings.engine === "redis")
      .map((q) => clientBudget(q, "maxclients", brokerClients(t, q), q.settings.maxConnections, "maxConnections")),
  ],
};

export const MEMCACHED_CONNECTIONS: Rule = {
  id: "WS-MEMCACHED-CONNECTIONS",
  title: "memcached clients fit its connection limit",
  severity: "error",
  rationale: "memcached refuses connections beyond -c.",
  measure: (t) =>
    componentsOf(t, "cache")
      .filter((c) => c.settings.engine === "memcached")
      .map((c) => clientBudget(c, "conn-limit", cacheClients(t, c), c.settings.maxClients, "maxClients")),
};

export const RABBITMQ_CONNECTIONS: Rule = {
  id: "WS-RABBITMQ-CONNECTIONS",
  title: "Broker clients fit RabbitMQ's connection_max",
  severity: "error",
  rationale: "RabbitMQ refuses connections beyond connection_max; Celery then retries and tasks stall.",
  measure: (t) =>
    componentsOf(t, "queue")
      .filter((q) => q.settings.engine === "rabbitmq")
      .map((q) => clientBudget(q, "connection_max", brokerClients(t, q), q.settings.maxConnections, "maxConnections")),
};

export const CELERY_BEAT_SINGLETON: Rule = {
  id: "WS-CELERY-BEAT-SINGLETON",
  title: "At most one Celery beat per broker",
  severity: "error",
  warnAt: null,
  rationale: "Two beat schedulers on one broker send every periodic task twice.",
  measure: (t) =>
    componentsOf(t, "queue").map((q) => {
      const beats = componentsOf(t, "workerTier").filter((w) => w.queue?.path === q.path && w.settings.beat);
      return measured(q, "beat schedulers", {
        used: beats.length,
        limit: 1,
        unit: "beat",
        lines: beats.length > 0 ? beats.map((w) => `${w.path}: beat = true`) : ["no beat"],
        fix: `keep beat: true on one worker tier only (${beats.map((b) => b.path).join(", ")})`,
      });
    }),
};

export const APP_DATABASE: Rule = {
  id: "WS-APP-DATABASE",
  title: "A web tier is wired to a database, or says it needs none",
  severity: "warning",
  warnAt: null,
  rationale:
    "A web tier without `database` gets no DATABASE_URL and counts no connections: right for a site that needs no database, a silent gap for one that " +
    "reaches its database another way. Acknowledge the warning on the tier, with the reason, to say it needs none.",
  measure: (t) =>
    componentsOf(t, "webTier").map((w) =>
      measured(w, "database wiring", {
        used: w.database ? 0 : 1,
        limit: 0,
        unit: "tiers without a database",
        lines: [w.database ? `database = ${w.database.path}` : "no database wired: no DATABASE_URL, no connections counted"],
        fix: `wire it (database: db), or say it needs none: Budgets.of(${w.id}).acknowledge("WS-APP-DATABASE", "why")`,
      }),
    ),
};
