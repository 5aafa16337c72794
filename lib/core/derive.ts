/**
 * Derived settings: the numbers the library computes from props (memory splits, replication senders,
 * per-node capacity, limits, image defaults that follow an engine). Planners render them and budget
 * rules check them, so each is computed here once; the schemas hold only defaults that follow no field.
 */
import type { LoadBalancerSettings, CacheSettings, DatabaseSettings, QueueSettings, SearchClusterSettings, WebTierSettings, WorkerTierSettings } from "./schemas";
import type { LoadBalancerModel, LoadBalancerRoute, Topology, WebTierModel } from "./topology";
import { PATRONI_MIN_REPLICATION_SLOTS, PATRONI_RSS_MIB } from "./failover";
import { pgtune, type PgtuneSettings } from "./pgtune";

const roundUp64 = (n: number) => Math.ceil(n / 64) * 64;

export interface DatabaseTuning {
  readonly maxWalSenders: number;
  readonly maxReplicationSlots: number;
  readonly sharedBuffersMiB: number;
  readonly maintenanceWorkMemMiB: number;
  readonly effectiveCacheSizeMiB: number;
  /** May be fractional (rendered in kB). */
  readonly workMemMiB: number;
  /** pgtune's work_mem for the same inputs, before the memory budget (`workMemMiB` is at most this unless set). */
  readonly pgtuneWorkMemMiB: number;
  /** Shared memory beside shared_buffers (fractional MiB: it is a number of 8 kB pages). */
  readonly walBuffersMiB: number;
  /** Background processes that run parts of queries: backends of their own, each with a work_mem. */
  readonly maxParallelWorkers: number;
  /** Every pgtune setting as rendered (lib/core/pgtune.ts); the memory fields above take the props into account. */
  readonly pgtune: PgtuneSettings;
}

/** WAL senders one `pg_basebackup -X stream` holds while a replica is (re)built. */
export const BASE_BACKUP_WAL_SENDERS = 2;

/** CPUs the settings assume when the cpus prop is unset (the container then has no CPU limit). */
export const DEFAULT_DATABASE_CPUS = 2;

/** The derived work_mem never goes below this: less spills nearly every sort; WS-DB-MEMORY then fails instead. */
export const MIN_DERIVED_WORK_MEM_MIB = 1;

export function databaseTuning(s: DatabaseSettings): DatabaseTuning {
  const pg = pgtune({
    memoryMiB: s.memoryMiB,
    cpus: s.cpus ?? DEFAULT_DATABASE_CPUS,
    storage: s.storage,
    maxConnections: s.maxConnections,
    sharedBuffersKiB: s.sharedBuffersMiB === undefined ? undefined : s.sharedBuffersMiB * 1024,
    maxWorkerProcesses: s.maxWorkerProcesses,
  });
  const sharedBuffersMiB = pg.sharedBuffersKiB / 1024;
  const maintenanceWorkMemMiB = pg.maintenanceWorkMemKiB / 1024;
  const walBuffersMiB = pg.walBuffersKiB / 1024;
  const pgtuneWorkMemMiB = pg.workMemKiB / 1024;
  // pgtune's work_mem unless the container cannot hold it: pgtune sizes a whole machine with no hard
  // limit, while here the kernel kills a backend past memoryMiB. What fits is half of what is left after
  // shared memory, maintenance and every backend's overhead, shared by every backend (connections and
  // parallel workers) running one sort at once: a query can use several work_mem, so the other half is
  // headroom. In 0.25 MiB steps, never below MIN_DERIVED_WORK_MEM_MIB (the memory rule then fails).
  const backends = s.maxConnections + pg.maxParallelWorkers;
  // With failover, Patroni's process lives in the same container.
  const patroni = s.failover ? PATRONI_RSS_MIB : 0;
  const left = s.memoryMiB - patroni - sharedBuffersMiB - walBuffersMiB - maintenanceWorkMemMiB - backends * s.backendOverheadMiB;
  const fitsMiB = Math.floor(((left / 2) / backends) * 4) / 4;
  const derivedWorkMem = Math.max(MIN_DERIVED_WORK_MEM_MIB, Math.min(pgtuneWorkMemMiB, fitsMiB));
  return {
    maxWalSenders: s.maxWalSenders ?? s.replicas + BASE_BACKUP_WAL_SENDERS + 1,
    // Patroni replaces a value below its minimum by its own default (10), so the derived one starts there.
    maxReplicationSlots: s.maxReplicationSlots ?? (s.failover ? Math.max(PATRONI_MIN_REPLICATION_SLOTS, s.replicas + 1) : s.replicas + 1),
    sharedBuffersMiB,
    maintenanceWorkMemMiB,
    effectiveCacheSizeMiB: pg.effectiveCacheSizeKiB / 1024,
    workMemMiB: s.workMemMiB ?? derivedWorkMem,
    pgtuneWorkMemMiB,
    walBuffersMiB,
    maxParallelWorkers: pg.maxParallelWorkers,
    pgtune: pg,
  };
}

/** The five settings a hot standby needs at least as high as its primary's. */
export interface StandbySensitiveSettings {
  readonly max_connections: number;
  readonly max_worker_processes: number;
  readonly max_wal_senders: number;
  readonly max_prepared_transactions: number;
  readonly max_locks_per_transaction: number;
}

export function primaryStandbySettings(s: DatabaseSettings): StandbySensitiveSettings {
  const tuning = databaseTuning(s);
  return {
    max_connections: s.maxConnections,
    // From cpus (or the maxWorkerProcesses prop): every standby has the same props, so the same value.
    max_worker_processes: tuning.pgtune.maxWorkerProcesses,
    max_wal_senders: tuning.maxWalSenders,
    max_prepared_transactions: s.maxPreparedTransactions,
    max_locks_per_transaction: s.maxLocksPerTransaction,
  };
}

export function replicaStandbySettings(s: DatabaseSettings): StandbySensitiveSettings {
  const primary = primaryStandbySettings(s);
  const o = s.standbyOverrides ?? {};
  return {
    max_connections: o.maxConnections ?? primary.max_connections,
    max_worker_processes: o.maxWorkerProcesses ?? primary.max_worker_processes,
    max_wal_senders: o.maxWalSenders ?? primary.max_wal_senders,
    max_prepared_transactions: o.maxPreparedTransactions ?? primary.max_prepared_transactions,
    max_locks_per_transaction: o.maxLocksPerTransaction ?? primary.max_locks_per_transaction,
  };
}

/** Requests one web node's app server can work on at once. */
export function nodeConcurrency(s: WebTierSettings): number {
  return s.processes * s.threads;
}

/** uWSGI master or gunicorn arbiter, beside the workers. */
export const APP_MASTER_RSS_MIB = 64;

export function webAppMemoryMiB(s: WebTierSettings): number {
  return s.memoryMiB ?? roundUp64(s.processes * s.processRssMiB * 1.25 + APP_MASTER_RSS_MIB);
}

export function workerMemoryMiB(s: WorkerTierSettings): number {
  return s.memoryMiB ?? roundUp64((s.concurrency + 1) * s.processRssMiB * 1.25);
}

/** The beat scheduler is one process of the worker image. */
export function beatMemoryMiB(s: WorkerTierSettings): number {
  return roundUp64(s.processRssMiB * 1.25);
}

export const FLOWER_MEMORY_MIB = 256;

/**
 * `net.core.somaxconn` rendered on each app container: the kernel caps the listen backlog at it,
 * so it is never below the backlog asked for (4096 is the kernel default since Linux 5.4).
 */
export function appSomaxconn(s: WebTierSettings): number {
  return Math.max(4096, s.listenBacklog);
}

/** Per-server maxconn of static routes: nginx serves files itself, far beyond the app's concurrency (CERN uses 255). */
export const STATIC_MAXCONN = 255;

/** The health check of one backend: the route's own fields, else the load balancer's; Host the site's. */
export function backendHealthCheck(lb: LoadBalancerModel, route: LoadBalancerRoute): LoadBalancerSettings["healthCheck"] & { readonly host: string } {
  const h = lb.settings.healthCheck;
  const own = route.healthCheck ?? {};
  return { ...h, path: own.path ?? h.path, interMs: own.interMs ?? h.interMs, host: own.host ?? h.host ?? lb.settings.siteHost ?? "localhost" };
}

/** The app routes of every load balancer whose servers include the nodes of `tier` (as target or backup). */
export function appRoutesTo(t: Topology, tier: WebTierModel): { readonly lb: LoadBalancerModel; readonly route: LoadBalancerRoute }[] {
  return t.components.flatMap((c) =>
    c.kind === "loadBalancer" ? c.routes.filter((r) => r.serves === "app" && (r.target.path === tier.path || r.backup?.path === tier.path)).map((route) => ({ lb: c, route })) : [],
  );
}

/**
 * Per-server maxconn of a route, unless overridden: for an app route, what one node of its target
 * serves at once, shared evenly by every app route that sends to that node (two backends on one
 * tier must not each send it everything it can serve); for a static route, STATIC_MAXCONN.
 */
export function routeMaxconn(t: Topology, route: LoadBalancerRoute): number {
  if (route.maxconnPerServer !== undefined) return route.maxconnPerServer;
  if (route.serves === "static") return STATIC_MAXCONN;
  return Math.max(1, Math.floor(nodeConcurrency(route.target.settings) / appRoutesTo(t, route.target).length));
}

/** Redis `maxmemory`: three quarters of the limit, the rest for clients' buffers, fork and fragmentation. */
export function redisMaxMemoryMiB(memoryMiB: number): number {
  return Math.floor(memoryMiB * 0.75);
}

/** memcached `-m`: the item memory; connections and hash table live beside it. */
export function memcachedItemMemoryMiB(s: CacheSettings): number {
  return Math.floor(s.memoryMiB * 0.8);
}

/** RabbitMQ's publishers block above this; set absolute because the VM may not see the cgroup limit. */
export function rabbitmqWatermarkMiB(s: QueueSettings): number {
  return Math.floor(s.memoryMiB * 0.4);
}

/** JVM heap ceiling below which the JVM keeps compressed object pointers. */
export const COMPRESSED_OOPS_LIMIT_MIB = 31 * 1024;

export function searchHeapMiB(s: SearchClusterSettings): number {
  return s.heapMiB ?? Math.min(Math.floor(s.memoryMiB / 2), COMPRESSED_OOPS_LIMIT_MIB);
}

/** nginx waits this much longer than the app's own timeout, so the app's error reaches the client. */
export function nginxReadTimeoutSeconds(s: WebTierSettings): number {
  return s.requestTimeoutSeconds + 5;
}

/** The longest pause in a request body any upload route of the tier allows; 0 without upload routes. */
export function uploadPauseSeconds(s: WebTierSettings): number {
  return Math.max(0, ...s.uploadRoutes.map((r) => r.clientPauseSeconds));
}

/** Outer layers wait this much longer than the route's pause limit, so nginx is the one that cuts. */
export const PAUSE_MARGIN_SECONDS = 5;

/**
 * uWSGI `socket-timeout` (its wait for each piece of a request body; default 4 s): past the
 * longest pause of the tier's upload routes; undefined (uWSGI's default) without upload routes,
 * where nginx buffers the whole body first and sends it at once.
 */
export function appSocketTimeoutSeconds(s: WebTierSettings): number | undefined {
  const pause = uploadPauseSeconds(s);
  return pause > 0 ? pause + PAUSE_MARGIN_SECONDS : undefined;
}

/**
 * HAProxy `timeout server` of a backend: the user's, or 10 s beyond the nginx read timeout of its
 * tier, and beyond the longest pause of its upload routes. A client's pause mid-body is silence on
 * the server side too, and HAProxy 2.6 restarts this timeout only when data moves: it cuts the pause
 * (measured). Its `timeout client` does not: once the request goes to the server, HAProxy stops
 * applying it to the request (a 5 s timeout client let an 8 s pause through).
 */
export function haproxyServerTimeoutMs(userMs: number | undefined, target: WebTierSettings): number {
  return userMs ?? Math.max(nginxReadTimeoutSeconds(target) + 10, uploadPauseSeconds(target) + PAUSE_MARGIN_SECONDS) * 1000;
}

/** nginx sizing of every web node. Each proxied request holds two descriptors (client and upstream). */
export const NGINX_WORKER_PROCESSES = 2;

/** Descriptors HAProxy needs beyond two per connection: listeners, health checks, logs. */
export const HAPROXY_EXTRA_FDS = 1024;

export function haproxyNofile(s: LoadBalancerSettings): number {
  return s.nofileLimit ?? 2 * s.maxconn + HAPROXY_EXTRA_FDS;
}

/** A database PgBouncer serves: the writes go to the primary, the reads (`<name>_ro`) to the first replica. */
export interface PoolerDatabase {
  readonly name: string;
  readonly server: "primary" | "replica-1";
}

export function poolerDatabases(s: DatabaseSettings): PoolerDatabase[] {
  return [{ name: s.databaseName, server: "primary" }, ...(s.replicas > 0 ? [{ name: `${s.databaseName}_ro`, server: "replica-1" as const }] : [])];
}

/** Roles that log in through PgBouncer: each database x user pair is a pool of its own. */
export function poolerUsers(s: DatabaseSettings): string[] {
  return [s.user];
}

/** `max_db_connections`: a hard cap per database over all its users' pools, so the budget holds whatever the users. */
export function poolerMaxDbConnections(p: NonNullable<DatabaseSettings["pooler"]>): number {
  return p.defaultPoolSize + p.reservePoolSize;
}

/** Server connections one database's pools open at most: each user's pool, capped by max_db_connections. */
export function poolerServerConnections(s: DatabaseSettings): number {
  const p = s.pooler!;
  return Math.min(poolerUsers(s).length * (p.defaultPoolSize + p.reservePoolSize), poolerMaxDbConnections(p));
}

/**
 * Connections the pooler's router (failover with a pooler) accepts on each port: the pools of the
 * databases PgBouncer sends there. Its global maxconn doubles their sum, for sessions of a member
 * marked down still closing while the pools reconnect.
 */
export function poolerRouterMaxconn(s: DatabaseSettings): { write: number; read: number; global: number } {
  const perDatabase = poolerServerConnections(s);
  const read = poolerDatabases(s).some((d) => d.server === "replica-1") ? perDatabase : 0;
  return { write: perDatabase, read, global: 2 * (perDatabase + read) };
}

/** PgBouncer's descriptors: every client, both pools twice over (server and reserve), and its own. */
export function pgbouncerNofile(p: NonNullable<DatabaseSettings["pooler"]>): number {
  return p.maxClientConn + 2 * (p.defaultPoolSize + p.reservePoolSize) * 2 + 64;
}

/** Images whose default follows the engine chosen. */
export function cacheImage(s: CacheSettings): string {
  return s.image ?? (s.engine === "redis" ? "redis:7.0" : "memcached:1.6");
}

export function queueImage(s: QueueSettings): string {
  return s.image ?? (s.engine === "redis" ? "redis:7.0" : "rabbitmq:3.10");
}

export function searchImage(s: SearchClusterSettings): string {
  return s.image ?? (s.engine === "elasticsearch" ? "elasticsearch:7.17.25" : "opensearchproject/opensearch:2.17.1");
}

/** memcached worker threads. */
export const MEMCACHED_THREADS = 4;

/** Request bodies above this are streamed to the app (no request buffering), as CERN does for /api/files. */
export const STREAMING_THRESHOLD_BYTES = 100 * 1024 * 1024;

/** HAProxy memory per connection: two 16 kB buffers plus session state. */
export const HAPROXY_KIB_PER_CONNECTION = 34;
export const HAPROXY_BASE_MIB = 32;
