/** Database props, with its optional PgBouncer. */
import { z } from "zod";
import { positiveInt, nonNegativeInt, memoryMiB, dockerImage, identifier } from "./common";
import { postgresParametersSchema } from "./daemon-options";

const standbyOverrides = z
  .object({
    maxConnections: positiveInt.optional(),
    maxWorkerProcesses: positiveInt.optional(),
    maxWalSenders: nonNegativeInt.optional(),
    maxPreparedTransactions: nonNegativeInt.optional(),
    maxLocksPerTransaction: positiveInt.optional(),
  })
  .strict();

/**
 * Automatic failover: Patroni on every PostgreSQL member, holding a leader lock in an etcd cluster.
 * Only the lock holder is writable; a returning old primary rejoins as a standby (pg_rewind).
 */
export const failoverSchema = z
  .object({
    /** Members of the etcd cluster Patroni keeps its leader lock in; odd (WS-DB-ETCD-QUORUM). @default 3 */
    etcdMembers: positiveInt.max(7).default(3),
    /** Memory limit of each etcd container, MiB. @default 256 */
    etcdMemoryMiB: memoryMiB.default(256),
    /** An image with Debian's `etcd` 3.4 on its PATH. @default "quay.io/coreos/etcd:v3.4.23" */
    etcdImage: dockerImage.default("quay.io/coreos/etcd:v3.4.23"),
    /**
     * An image with PostgreSQL 15 (server binaries in /usr/lib/postgresql/15/bin) and Patroni 3.0 on
     * its PATH, for every PostgreSQL member in place of `image` (there is no official one).
     * @default "patroni:3.0"
     */
    image: dockerImage.default("patroni:3.0"),
    /** Patroni's `ttl`: seconds the leader lock lives without renewal; a lost primary is replaced after at most this. @default 30 */
    ttl: positiveInt.min(20).default(30),
    /** Patroni's `loop_wait`: seconds between two runs of its HA loop. @default 10 */
    loopWait: positiveInt.default(10),
    /** Patroni's `retry_timeout`: seconds it retries etcd and PostgreSQL before demoting the leader. @default 10 */
    retryTimeout: positiveInt.default(10),
    /** Patroni's `maximum_lag_on_failover`: bytes of WAL a standby may lag and still be promoted. @default 1048576 */
    maximumLagOnFailover: nonNegativeInt.default(1048576),
    /**
     * Patroni's `synchronous_mode_strict` (only with synchronousReplicas): writes stop when no
     * synchronous standby is left, instead of going on without one. @default false
     */
    synchronousModeStrict: z.boolean().default(false),
  })
  .strict()
  .superRefine((f, ctx) => {
    // Patroni's own rule (docs, "Dynamic configuration"): loop_wait + 2 x retry_timeout <= ttl.
    if (f.loopWait + 2 * f.retryTimeout > f.ttl) {
      ctx.addIssue({ code: "custom", path: ["ttl"], message: `must be at least loopWait + 2 x retryTimeout = ${f.loopWait + 2 * f.retryTimeout} (Patroni's rule), or lower those` });
    }
  });

/**
 * Parameters Patroni sets itself in failover mode beyond what postgresql.conf renders (test/failover
 * checks this list against the rendered patroni.yml): a user's value would silently do nothing.
 */
export const PATRONI_SETS: readonly string[] = ["wal_log_hints", "wal_keep_size", "hot_standby", "wal_level", "hba_file", "unix_socket_directories"];

export const databaseSchema = z
  .object({
    /** Streaming replicas in hot standby. @default 0 */
    replicas: nonNegativeInt.max(16).default(0),
    /**
     * Replicas that must confirm each commit before it is acknowledged (`synchronous_standby_names =
     * 'ANY n (...)'`). With 1 or more, a failover loses no acknowledged write; the price is a network
     * round trip per commit, and writes stall while fewer than n replicas are connected. @default 0
     */
    synchronousReplicas: nonNegativeInt.default(0),
    /** `max_connections`. @default 200 */
    maxConnections: positiveInt.max(10000).default(200),
    /** `superuser_reserved_connections`. @default 3 */
    superuserReservedConnections: nonNegativeInt.default(3),
    /** `max_wal_senders`. @default replicas + 2 (a `pg_basebackup -X stream` uses two) + 1 spare */
    maxWalSenders: nonNegativeInt.optional(),
    /** `max_replication_slots`. @default replicas + 1 */
    maxReplicationSlots: nonNegativeInt.optional(),
    /**
     * `max_worker_processes`, the pool parallel workers come from; standbys render the same value.
     * @default cpus from 4 CPUs up (pgtune), else 8 (PostgreSQL's default)
     */
    maxWorkerProcesses: positiveInt.optional(),
    /** `max_prepared_transactions`. @default 0 */
    maxPreparedTransactions: nonNegativeInt.default(0),
    /** `max_locks_per_transaction`. @default 64 */
    maxLocksPerTransaction: positiveInt.default(64),
    /** Settings a replica renders differently from the primary (for a deliberate test only). @default none */
    standbyOverrides: standbyOverrides.optional(),
    /**
     * Memory limit of each PostgreSQL container; the memory settings derive from it as pgtune does
     * (README "How the PostgreSQL settings are derived"). @default 2560 (200 connections with
     * their backends, parallel workers and pgtune's shared memory, below WS-DB-MEMORY's 90 % warning)
     */
    memoryMiB: memoryMiB.min(256).default(2560),
    /**
     * CPUs of each PostgreSQL container: the parallel-worker settings (and pgtune's work_mem) derive from
     * it. When set, it is also the container's CPU limit (Docker `--cpus`), so both agree. @default 2 for
     * the settings; no CPU limit on the container
     */
    cpus: positiveInt.max(256).optional(),
    /** What the data volume sits on: sets random_page_cost and effective_io_concurrency as pgtune does. @default "ssd" */
    storage: z.enum(["ssd", "hdd", "san"]).default("ssd"),
    /** `shared_buffers`, MiB. @default 25% of memoryMiB (pgtune) */
    sharedBuffersMiB: positiveInt.optional(),
    /**
     * `work_mem`, MiB. @default pgtune's, (memory - shared_buffers) / ((max_connections +
     * max_worker_processes) x 3), at least 4 MB; lowered to what fits when the memory budget is smaller:
     * half the memory left after shared memory, maintenance and the backends' overhead, over
     * max_connections + max_parallel_workers, in 0.25 MiB steps, at least 1 MiB
     */
    workMemMiB: z.number().positive().optional(),
    /** Memory one backend uses beyond work_mem, MiB, for the memory budget. @default 6 */
    backendOverheadMiB: z.number().positive().default(6),
    /** Database created for the application. @default "app" */
    databaseName: identifier.default("app"),
    /** Role the application logs in as. @default "app" */
    user: identifier.default("app"),
    /** Statements slower than this are logged, ms (`log_min_duration_statement`). @default 500 */
    slowQueryMs: nonNegativeInt.default(500),
    /** Connections by other processes (exporters, cron jobs, admin shells), counted in the budget. @default [] */
    additionalClients: z.array(z.object({ name: z.string().min(1), connections: positiveInt }).strict()).default([]),
    /**
     * PgBouncer in front of the database, on its own container: apps and workers connect to it, and
     * only its pools reach PostgreSQL. @default none (clients connect directly)
     */
    pooler: z
      .object({
        /** `pool_mode`. Transaction pooling shares a server connection between transactions. @default "transaction" */
        mode: z.enum(["transaction", "session"]).default("transaction"),
        /** `max_client_conn`: client connections PgBouncer accepts. @default 1000 */
        maxClientConn: positiveInt.default(1000),
        /** `default_pool_size`: server connections per database and user. @default 20 */
        defaultPoolSize: positiveInt.default(20),
        /** `reserve_pool_size`: extra server connections when clients wait. @default 5 */
        reservePoolSize: nonNegativeInt.default(5),
        /** @default 128 */
        memoryMiB: memoryMiB.default(128),
        /** An image with `pgbouncer` on its PATH (there is no official one). @default "pgbouncer:1.18" */
        image: dockerImage.default("pgbouncer:1.18"),
        /**
         * With failover only: the image of the pooler's router, a TCP HAProxy between PgBouncer and the
         * members that sends to the one Patroni says leads (README "Automatic failover"). @default "haproxy:2.6"
         */
        routerImage: dockerImage.default("haproxy:2.6"),
        /** With failover only: memory limit of the router's container, MiB (WS-PG-ROUTER-MEMORY). @default 64 */
        routerMemoryMiB: memoryMiB.default(64),
      })
      .strict()
      .optional(),
    /**
     * postgresql.conf parameters the library has no prop for, e.g. `{ idle_in_transaction_session_timeout:
     * "5min", statement_timeout: "30s" }`, on the primary and every replica. Parameters the file already
     * sets (max_connections, shared_buffers, work_mem, ...) and ones that bypass a budget or the start
     * scripts are refused, naming the prop to set instead; PostgreSQL refuses a name it does not know at
     * start. @default {}
     */
    parameters: postgresParametersSchema.default({}),
    /**
     * Automatic failover with Patroni and etcd (README "Automatic failover"). Needs at least one
     * replica. With a pooler, PgBouncer reaches the leader through a router that asks Patroni who
     * leads. @default none: a standby is promoted by hand (promote.sh)
     */
    failover: failoverSchema.optional(),
    /** @default "postgres:15" */
    image: dockerImage.default("postgres:15"),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.failover) return;
    if (s.replicas < 1) ctx.addIssue({ code: "custom", path: ["failover"], message: "needs replicas: 1 or more (a standby to promote)" });
    if (s.maxReplicationSlots !== undefined && s.maxReplicationSlots < 4) {
      ctx.addIssue({ code: "custom", path: ["maxReplicationSlots"], message: "must be at least 4 with failover (Patroni replaces a lower value by its default, 10)" });
    }
    if (s.maxConnections < 25) ctx.addIssue({ code: "custom", path: ["maxConnections"], message: "must be at least 25 with failover (Patroni replaces a lower value by its default, 100)" });
    if (s.standbyOverrides) {
      ctx.addIssue({ code: "custom", path: ["standbyOverrides"], message: "cannot be combined with failover: Patroni sets the hot-standby settings of every member from one configuration" });
    }
    for (const name of Object.keys(s.parameters).filter((p) => PATRONI_SETS.includes(p))) {
      ctx.addIssue({ code: "custom", path: ["parameters", name], message: "is set by Patroni with failover (its cluster-wide configuration wins over postgresql.conf)" });
    }
  });
