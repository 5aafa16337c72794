/**
 * Props schemas for every construct: the one place where defaults are resolved and plain fields are
 * validated. Construct references (`database: db`) are not here: they are typed in the construct layer.
 * Every field documents its default; `z.input` keeps those comments for the public props types.
 */
import { z } from "zod";

const positiveInt = z.number().int().min(1);
const nonNegativeInt = z.number().int().min(0);
/** Memory limit of one container, MiB. */
const memoryMiB = z.number().int().min(16).max(1024 * 1024);
const dockerImage = z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/, "must be a Docker image reference like 'nginx:1.22'");
const urlPath = z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a URL path starting with '/'");
const identifier = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower case letters, digits and '_', starting with a letter");
/** nginx-style size: `10m`, `50g`, `512k` or a number of bytes. */
const bodySize = z.string().regex(/^[0-9]+[kmgKMG]?$/, "must be a size like '10m', '50g' or '512k'");

export const stackSchema = z
  .object({
    /** Prefix of every Docker object name (containers, network, volumes). @default the stack id */
    namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "must be lower case letters, digits and '-'").optional(),
    /** Fixed subnet of the stack's network; each construct gets its own block of 256 addresses. @default "172.30.0.0/16" */
    subnet: z
      .string()
      .regex(/^(\d{1,3})\.(\d{1,3})\.0\.0\/(1[6-9]|2[0-3])$/, "must be an IPv4 subnet 'a.b.0.0/N' with 16 <= N <= 23")
      .default("172.30.0.0/16"),
    /** Docker engine address for the provider. @default "unix:///var/run/docker.sock" */
    dockerHost: z.string().default("unix:///var/run/docker.sock"),
    /** Share of a limit above which a passing budget is reported as a warning. @default 0.8 */
    warnAtFraction: z.number().gt(0).lt(1).default(0.8),
  })
  .strict();

export const healthCheckSchema = z
  .object({
    /** Path HAProxy probes with `HEAD`. @default "/ping" */
    path: urlPath.default("/ping"),
    /** Milliseconds between checks. @default 5000 */
    interMs: positiveInt.default(5000),
    /** Milliseconds between checks while a server is changing state (after a first failure). @default 1000 */
    fastInterMs: positiveInt.default(1000),
    /** Failed checks before a server is marked down. @default 2 */
    fall: positiveInt.default(2),
    /** Passed checks before a server is marked up again. @default 1 */
    rise: positiveInt.default(1),
  })
  .strict();

export const loadBalancerSchema = z
  .object({
    /** Balancing algorithm; `source` hashes the client address (sticky sessions). @default "leastconn" */
    balance: z.enum(["leastconn", "roundrobin", "source"]).default("leastconn"),
    /** Host port published for HTTP, on `bindAddress`. @default 80 */
    httpPort: z.number().int().min(1).max(65535).default(80),
    /** Host address the published ports bind to. @default "0.0.0.0" */
    bindAddress: z.ipv4().default("0.0.0.0"),
    /** HTTPS frontend. @default none (HTTP only) */
    https: z
      .object({
        /** Host port published for HTTPS. @default 443 */
        port: z.number().int().min(1).max(65535).default(443),
        /** PEM bundle (certificate, chain, key) read at synth time. Exactly one of this and `certificateVariable`. */
        certificateFile: z.string().optional(),
        /** Name of a sensitive Terraform variable holding the PEM bundle. */
        certificateVariable: identifier.optional(),
        /** Redirect plain HTTP to HTTPS with a 301. @default true */
        redirectHttp: z.boolean().default(true),
      })
      .strict()
      .refine((h) => (h.certificateFile === undefined) !== (h.certificateVariable === undefined), {
        message: "set exactly one of certificateFile and certificateVariable",
      })
      .optional(),
    /**
     * Health check of every server. After a first failure HAProxy checks every `fastinter` ms, so a
     * node that stops is marked down within fall x inter. @default HEAD /ping, inter 5000, fall 2, rise 1
     */
    healthCheck: healthCheckSchema.default({ path: "/ping", interMs: 5000, fastInterMs: 1000, fall: 2, rise: 1 }),
    /** Global `maxconn` of the HAProxy process. @default 4000 */
    maxconn: positiveInt.default(4000),
    /** `nofile` ulimit of the HAProxy container. @default 2 x maxconn + 1024 */
    nofileLimit: positiveInt.optional(),
    /** Requests a server may queue in HAProxy beyond its maxconn before others are tried. @default 64 */
    maxqueue: positiveInt.default(64),
    /** Timeouts in milliseconds. */
    timeouts: z
      .object({
        /** Also bounds each health check's connect: a server that vanished is seen within it. @default 2000 */
        connect: positiveInt.default(2000),
        /** Read timeout of a health check once connected. @default 2000 */
        check: positiveInt.default(2000),
        /** @default 60000 */ client: positiveInt.default(60000),
        /** HAProxy `timeout server`, for every backend. @default per backend, its web tier's nginx read timeout + 10 s */ server: positiveInt.optional(),
        /** How long a request may wait for a free server slot. @default 30000 */ queue: positiveInt.default(30000),
        /** @default 10000 */ httpRequest: positiveInt.default(10000),
      })
      .strict()
      .default({ connect: 2000, check: 2000, client: 60000, queue: 30000, httpRequest: 10000 }),
    /** Internal port of the password-protected stats page; never published. @default 8404 */
    statsPort: z.number().int().min(1024).max(65535).default(8404),
    /** User name of the stats page; its password is a sensitive variable. @default "admin" */
    statsUser: z.string().regex(/^[a-z][a-z0-9_-]*$/).default("admin"),
    /** HTML body of the 503 page served when no server is up. @default a short maintenance notice */
    maintenanceHtml: z.string().max(8000).optional(),
    /** @default "haproxy:2.6" */
    image: dockerImage.default("haproxy:2.6"),
    /** @default 256 */
    memoryMiB: memoryMiB.default(256),
  })
  .strict();

export const webTierSchema = z
  .object({
    /** Number of web nodes (one nginx and one app server container each). @default 2 */
    nodes: positiveInt.max(250).default(2),
    /** Application server. @default "uwsgi" */
    server: z.enum(["uwsgi", "gunicorn"]).default("uwsgi"),
    /** Application image, built by you (see examples/app/Dockerfile). */
    image: dockerImage,
    /** WSGI callable, `module:attribute`. */
    wsgiModule: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$/, "must be 'package.module:callable'"),
    /** Worker processes per node (uWSGI `processes`, gunicorn `workers`). @default 8 */
    processes: positiveInt.max(512).default(8),
    /** Threads per process. @default 2 */
    threads: positiveInt.max(64).default(2),
    /** Database connections each process keeps pooled (SQLAlchemy `pool_size`). @default 5 */
    poolSize: nonNegativeInt.default(5),
    /** Extra connections a process may open above its pool (SQLAlchemy `max_overflow`). @default 0 */
    maxOverflow: nonNegativeInt.default(0),
    /** Expected resident memory of one app process, MiB; measure it (uwsgitop RSS). @default 200 */
    processRssMiB: positiveInt.default(200),
    /** Memory limit of each app server container. @default processes x processRssMiB x 1.25 + 64, rounded up to 64 */
    memoryMiB: memoryMiB.optional(),
    /** Memory limit of each nginx container. @default 128 */
    nginxMemoryMiB: memoryMiB.default(128),
    /** nginx `worker_connections` (2 workers per node). @default 1024 */
    nginxWorkerConnections: positiveInt.max(65535).default(1024),
    /** `nofile` ulimit of each nginx container (also its `worker_rlimit_nofile`). @default 4096 */
    nginxNofileLimit: positiveInt.default(4096),
    /** Requests served before a process is recycled (uWSGI `max-requests`, gunicorn `max_requests`). @default 5000 */
    maxRequests: positiveInt.default(5000),
    /** Seconds before a stuck request's process is killed (uWSGI `harakiri`, gunicorn `timeout`). @default 60 */
    requestTimeoutSeconds: positiveInt.default(60),
    /** Listen backlog of the app server socket. @default 1024 */
    listenBacklog: positiveInt.max(65535).default(1024),
    /** Port the app server listens on inside its container. @default 8000 */
    appPort: z.number().int().min(1024).max(65535).default(8000),
    /** Directory of static files inside the app image; nginx serves it at `staticUrlPath`. @default "/srv/app/static" */
    staticDir: z.string().regex(/^\/[A-Za-z0-9._\/-]+$/).default("/srv/app/static"),
    /** URL path of static files. @default "/static" */
    staticUrlPath: urlPath.default("/static"),
    /** Largest request body nginx accepts on ordinary routes. @default "10m" */
    clientMaxBodySize: bodySize.default("10m"),
    /** Routes that take large uploads: streamed to the app (no request buffering) with their own body limit. @default none */
    uploadRoutes: z
      .array(z.object({ path: urlPath, maxBodySize: bodySize }).strict())
      .default([]),
    /** uWSGI plugins to load; set `[]` for a uWSGI built with Python inside (pip). @default ["python3"] */
    uwsgiPlugins: z.array(z.string().regex(/^[a-z0-9_]+$/)).default(["python3"]),
    /** Extra environment variables for the app. @default {} */
    environment: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).default({}),
    /** @default "nginx:1.22" */
    nginxImage: dockerImage.default("nginx:1.22"),
  })
  .strict();

export const workerTierSchema = z
  .object({
    /** Application image (the same as the web tier's, usually). */
    image: dockerImage,
    /** Celery application, `-A` argument. */
    celeryApp: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:]*$/),
    /** Worker containers. @default 1 */
    nodes: positiveInt.max(250).default(1),
    /** Child processes per worker. @default 4 */
    concurrency: positiveInt.max(256).default(4),
    /** Celery `worker_prefetch_multiplier`. @default 1 */
    prefetchMultiplier: positiveInt.default(1),
    /** Tasks a child runs before it is replaced. @default 1000 */
    maxTasksPerChild: positiveInt.default(1000),
    /** Queues consumed. @default ["celery"] */
    queues: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/)).min(1).default(["celery"]),
    /** Database connections each worker child keeps pooled. @default 5 */
    poolSize: nonNegativeInt.default(5),
    /** @default 0 */
    maxOverflow: nonNegativeInt.default(0),
    /** Run the beat scheduler, as one container of its own: never more than one. @default false */
    beat: z.boolean().default(false),
    /** Run Flower on the internal network (not published). @default false */
    flower: z.boolean().default(false),
    /** Image that has Flower installed. @default the worker image */
    flowerImage: dockerImage.optional(),
    /** Expected resident memory of one worker child, MiB. @default 200 */
    processRssMiB: positiveInt.default(200),
    /** Memory limit of each worker container. @default (concurrency + 1) x processRssMiB x 1.25, rounded up to 64 */
    memoryMiB: memoryMiB.optional(),
    /** @default {} */
    environment: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).default({}),
  })
  .strict();

const standbyOverrides = z
  .object({
    maxConnections: positiveInt.optional(),
    maxWorkerProcesses: positiveInt.optional(),
    maxWalSenders: nonNegativeInt.optional(),
    maxPreparedTransactions: nonNegativeInt.optional(),
    maxLocksPerTransaction: positiveInt.optional(),
  })
  .strict();

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
    /** `max_worker_processes`. @default 8 */
    maxWorkerProcesses: positiveInt.default(8),
    /** `max_prepared_transactions`. @default 0 */
    maxPreparedTransactions: nonNegativeInt.default(0),
    /** `max_locks_per_transaction`. @default 64 */
    maxLocksPerTransaction: positiveInt.default(64),
    /** Settings a replica renders differently from the primary (for a deliberate test only). @default none */
    standbyOverrides: standbyOverrides.optional(),
    /** Memory limit of each PostgreSQL container; memory settings derive from it. @default 2048 */
    memoryMiB: memoryMiB.min(256).default(2048),
    /** `shared_buffers`, MiB. @default 25% of memoryMiB */
    sharedBuffersMiB: positiveInt.optional(),
    /** `work_mem`, MiB. @default what fits: half the memory left after shared_buffers and maintenance, over max_connections */
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
      })
      .strict()
      .optional(),
    /** @default "postgres:15" */
    image: dockerImage.default("postgres:15"),
  })
  .strict();

export const cacheSchema = z
  .object({
    /** @default "redis" */
    engine: z.enum(["redis", "memcached"]).default("redis"),
    /** Memory limit of the container; the cache size derives from it. @default 512 */
    memoryMiB: memoryMiB.default(512),
    /** Redis `maxmemory-policy`. @default "allkeys-lru" */
    evictionPolicy: z
      .enum(["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "allkeys-random", "volatile-ttl", "noeviction"])
      .default("allkeys-lru"),
    /** Redis `maxclients` / memcached `-c`. @default 1024 */
    maxClients: positiveInt.default(1024),
    /** @default "redis:7.0" or "memcached:1.6" */
    image: dockerImage.optional(),
  })
  .strict();

export const queueSchema = z
  .object({
    /** @default "rabbitmq" */
    engine: z.enum(["rabbitmq", "redis"]).default("rabbitmq"),
    /** @default 1024 */
    memoryMiB: memoryMiB.min(128).default(1024),
    /** Virtual host (RabbitMQ). @default "app" */
    vhost: z.string().regex(/^[A-Za-z0-9_-]+$/).default("app"),
    /** User the app and workers log in as (RabbitMQ). @default "app" */
    user: identifier.default("app"),
    /** Connection limit: RabbitMQ `connection_max`, Redis `maxclients`. @default 1024 */
    maxConnections: positiveInt.default(1024),
    /** Enable the RabbitMQ management UI on the internal network (never published). @default false */
    managementUi: z.boolean().default(false),
    /** @default "rabbitmq:3.10" or "redis:7.0" */
    image: dockerImage.optional(),
  })
  .strict();

export const searchClusterSchema = z
  .object({
    /** @default "elasticsearch" */
    engine: z.enum(["elasticsearch", "opensearch"]).default("elasticsearch"),
    /** Nodes, all master-eligible and data. @default 1 */
    nodes: positiveInt.max(32).default(1),
    /** Memory limit of each node. @default 2048 */
    memoryMiB: memoryMiB.min(512).default(2048),
    /** JVM heap, MiB. @default half of memoryMiB, at most 31744 (compressed pointers stop above ~31 GiB) */
    heapMiB: positiveInt.optional(),
    /** Cluster name. @default the construct id */
    clusterName: z.string().regex(/^[a-z0-9-]+$/).optional(),
    /** @default "elasticsearch:7.17.25" or "opensearchproject/opensearch:2.17.1" */
    image: dockerImage.optional(),
  })
  .strict();

export type StackSettings = z.output<typeof stackSchema>;
export type LoadBalancerSettings = z.output<typeof loadBalancerSchema>;
export type WebTierSettings = z.output<typeof webTierSchema>;
export type WorkerTierSettings = z.output<typeof workerTierSchema>;
export type DatabaseSettings = z.output<typeof databaseSchema>;
export type CacheSettings = z.output<typeof cacheSchema>;
export type QueueSettings = z.output<typeof queueSchema>;
export type SearchClusterSettings = z.output<typeof searchClusterSchema>;
