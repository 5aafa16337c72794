/** Client-count rules: who connects to each server, against the server's connection limit. */
import { applicationDatabaseClients, brokerClients, cacheClients, databaseClients, sumClients } from "../../clients";
import { componentsOf } from "../../topology";
import { clientBudget, clientLines, measured, type Rule } from "../rule";

export const DB_CONNECTIONS: Rule = {
  id: "WS-DB-CONNECTIONS",
  title: "Database clients fit max_connections minus the superuser reserve",
  severity: "error",
  rationale:
    'Every process that opens a pool counts at its full size; past the limit PostgreSQL answers "sorry, too many clients already". ' +
    "WAL senders are not counted here: since PostgreSQL 12 they have their own slots (see WS-DB-WAL-SENDERS).",
  measure: (t) =>
    componentsOf(t, "database").map((db) => {
      const s = db.settings;
      const clients = databaseClients(t, db);
      const used = sumClients(clients);
      const limit = s.maxConnections - s.superuserReservedConnections;
      return measured(db, "client connections", {
        used,
        limit,
        unit: "connections",
        lines: [
          ...clientLines(clients),
          `total clients = ${used}`,
          `usable = max_connections ${s.maxConnections} - superuser_reserved_connections ${s.superuserReservedConnections} = ${limit}`,
        ],
        fix: `lower nodes, processes or poolSize of the tiers above, or raise maxConnections of ${db.path} to at least ${used + s.superuserReservedConnections} (and its memoryMiB, see WS-DB-MEMORY), or put a pooler in front`,
      });
    }),
};

export const POOLER_CLIENTS: Rule = {
  id: "WS-POOLER-CLIENTS",
  title: "Clients of a PgBouncer fit its max_client_conn",
  severity: "error",
  rationale:
    "Behind a pooler the app and worker pools connect to PgBouncer, which refuses clients beyond max_client_conn; only its own pools (WS-DB-CONNECTIONS) reach PostgreSQL.",
  measure: (t) =>
    componentsOf(t, "database").flatMap((db) =>
      db.settings.pooler ? [clientBudget(db, "pgbouncer max_client_conn", applicationDatabaseClients(t, db), db.settings.pooler.maxClientConn, "pooler.maxClientConn")] : [],
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
