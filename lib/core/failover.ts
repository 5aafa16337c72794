/**
 * Derived numbers and names of the automatic failover mode (Database `failover`): Patroni on every
 * PostgreSQL member, its leader lock in an etcd cluster. The planner renders them, the budget rules
 * count them; the figures marked "measured" come from the daemon suite (test/daemons/patroni.test.ts).
 */
import type { DatabaseSettings } from "./schemas";

export type FailoverSettings = NonNullable<DatabaseSettings["failover"]>;

export const PATRONI_API_PORT = 8008;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** The role Patroni runs pg_rewind as (PostgreSQL 11+: no superuser needed; Patroni grants it what pg_rewind reads). */
export const REWIND_USER = "rewinder";
/** The user of Patroni's REST API for its unsafe endpoints (switchover, restart, reload); GETs stay open. */
export const PATRONI_API_USER = "patroni";

/**
 * Connections Patroni opens to its own member's PostgreSQL: one held (Patroni 3.0's HA loop and REST
 * API share it, patroni/postgresql/connection.py) and one while a rejoining member's pg_rewind or its
 * CHECKPOINT request reads from the leader.
 */
export const PATRONI_HELD_CONNECTIONS = 1;
export const PATRONI_TRANSIENT_CONNECTIONS = 1;

/**
 * Resident memory of Patroni's Python process, MiB: measured at 44.7 MiB (the new leader) on Debian's patroni 3.0.2
 * under the daemon suite, rounded up with headroom for its REST API threads.
 */
export const PATRONI_RSS_MIB = 64;

/**
 * etcd's backend quota (`quota-backend-bytes`), MiB. Patroni keeps a few keys per cluster (leader,
 * members, config, sync, history), rewritten every loop_wait; periodic compaction keeps the history short.
 */
export const ETCD_QUOTA_MIB = 64;
/** Resident memory of etcd 3.4 beside its mapped backend, MiB (measured at 32.6 MiB in the daemon suite, with headroom). */
export const ETCD_BASE_RSS_MIB = 64;

/** Patroni refuses (and replaces by its own defaults) max_replication_slots below 4 and max_connections below 25. */
export const PATRONI_MIN_REPLICATION_SLOTS = 4;
export const PATRONI_MIN_MAX_CONNECTIONS = 25;

/**
 * The longest time writes can stop when the leader dies without releasing its lock: the lock expires
 * after `ttl`, and a standby notices on its next HA loop (up to `loop_wait` later); promotion itself
 * is about a second. A leader that shuts down cleanly releases the lock at once.
 */
export function failoverBoundSeconds(f: FailoverSettings): number {
  return f.ttl + f.loopWait;
}

/** Members of the etcd cluster Patroni's members connect to (one client each). */
export function etcdClients(s: DatabaseSettings): number {
  return s.replicas + 1;
}

/**
 * libpq options the clients of a failover database get in their URL. A leader cut off the network
 * leaves its clients' connections open with nothing answering: without a timeout a request waits for
 * TCP's retransmissions (minutes; 90 s in the e2e suite, until gunicorn killed its worker). With
 * these, data unacknowledged for 10 s, or an idle connection whose three keepalive probes go unanswered,
 * fails the connection; the app drops it and reconnects to the new leader (target_session_attrs).
 */
export const FAILOVER_CLIENT_OPTIONS = "keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000";

/**
 * The pooler's router (failover with a pooler): a TCP HAProxy between PgBouncer and the members. Its
 * write port sends to the member whose Patroni REST API answers 200 on GET /primary, its read port to
 * members answering 200 on GET /replica. Its checks ask Patroni, never PostgreSQL.
 */
export const PG_ROUTER_WRITE_PORT = 5432;
export const PG_ROUTER_READ_PORT = 5433;
/** Consecutive failed checks before the router marks a member down, and good ones before it marks it up. */
export const PG_ROUTER_FALL = 3;
export const PG_ROUTER_RISE = 2;

/**
 * The router's check interval, ms (also its `timeout check`): a fifth of loop_wait (Patroni changes a
 * member's answer at most once a loop), and short enough that marking the old leader down, at most
 * fall x (inter + timeout check), takes under half of ttl, so before any standby can hold the lock.
 */
export function routerCheckIntervalMs(f: FailoverSettings): number {
  const byLoop = (f.loopWait * 1000) / 5;
  const byTtl = (f.ttl * 1000) / (2 * PG_ROUTER_FALL * 2);
  return Math.max(500, Math.floor(Math.min(byLoop, byTtl) / 100) * 100);
}

/** The longest time the router sends to a member after it stops answering 200: fall checks, each up to inter + timeout. */
export function routerMarkDownMs(f: FailoverSettings): number {
  return PG_ROUTER_FALL * 2 * routerCheckIntervalMs(f);
}
