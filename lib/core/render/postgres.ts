/**
 * PostgreSQL 15 files: postgresql.conf (primary and hot standby), pg_hba.conf, the first-boot init
 * SQL, and the start scripts. The start scripts use the server binaries only (initdb, pg_ctl,
 * pg_basebackup, postgres), never an image's entrypoint, so the same files run on any image that
 * ships PostgreSQL 15.
 */
import type { StandbySensitiveSettings } from "../derive";
import type { PgtuneSettings } from "../pgtune";

export const PG_CONF_DIR = "/etc/postgresql";
export const PG_DATA = "/var/lib/postgresql/data/pgdata";
export const PG_PORT = 5432;
/** Debian and the official image put the server binaries here; PATH gets it first. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

export interface PostgresConfig {
  readonly role: "primary" | "replica";
  /** `cluster_name`, also the application_name a standby streams under. */
  readonly clusterName: string;
  /** Standbys (by cluster_name) of which `synchronousCount` must confirm each commit. */
  readonly synchronousStandbys: readonly string[];
  readonly synchronousCount: number;
  readonly standby: StandbySensitiveSettings;
  readonly superuserReservedConnections: number;
  readonly maxReplicationSlots: number;
  readonly sharedBuffersMiB: number;
  readonly workMemMiB: number;
  readonly maintenanceWorkMemMiB: number;
  readonly effectiveCacheSizeMiB: number;
  readonly slowQueryMs: number;
  /**
   * The rest of pgtune's settings (lib/core/pgtune.ts): WAL, planner, parallel workers. Its memory
   * fields other than wal_buffers and autovacuum_work_mem are not read: the four above are what to render.
   */
  readonly pgtune: Omit<PgtuneSettings, "sharedBuffersKiB" | "effectiveCacheSizeKiB" | "maintenanceWorkMemKiB" | "workMemKiB">;
  /** The Database's `parameters`, validated by its props schema; rendered last, in this order. @default {} */
  readonly extraParameters?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A memory setting in the largest unit that holds it exactly (`1GB`, `768MB`, `7864kB`), as pgtune
 * writes it and as `SHOW` prints it, so a test can compare the two.
 */
export function pgSize(kB: number): string {
  const whole = Math.floor(kB);
  if (whole % (1024 * 1024) === 0 && whole > 0) return `${whole / (1024 * 1024)}GB`;
  if (whole % 1024 === 0 && whole > 0) return `${whole / 1024}MB`;
  return `${whole}kB`;
}

/** MiB (maybe fractional) as a memory setting; never below PostgreSQL's 64 kB minimum of work_mem. */
const mib = (n: number) => pgSize(Math.max(64, Math.floor(n * 1024)));

/** Libraries loaded at start; a dotted parameter (`pg_stat_statements.max`) must belong to one of them. */
export const PG_PRELOAD_LIBRARIES: readonly string[] = ["pg_stat_statements"];

/** What a postgresql.conf setting derives from: a config field, or one standby-sensitive setting. */
export type PgSource = keyof PostgresConfig | `standby.${keyof StandbySensitiveSettings}`;

/**
 * One setting of postgresql.conf: its value for a config (undefined: not rendered for it), the input
 * it derives from (none: fixed by the library), and the lines written above it when it is rendered.
 */
export interface PgSetting {
  readonly value: (c: PostgresConfig) => string | number | undefined;
  readonly from?: PgSource;
  readonly before?: (c: PostgresConfig) => readonly string[];
}

const fixed = (value: string | number, ...before: string[]): PgSetting => ({ value: () => value, before: before.length > 0 ? () => before : undefined });
const tuned = (value: (t: PostgresConfig["pgtune"]) => string | number, ...before: string[]): PgSetting => ({
  from: "pgtune",
  value: (c) => value(c.pgtune),
  before: before.length > 0 ? () => before : undefined,
});
const standby = (key: keyof StandbySensitiveSettings, ...before: string[]): PgSetting => ({
  from: `standby.${key}`,
  value: (c) => c.standby[key],
  before: before.length > 0 ? () => before : undefined,
});
// Only the primary waits for standbys. A standby rendered with these would, once promoted, wait for a
// standby that does not exist yet and block every write.
const synchronous = (c: PostgresConfig) => c.role === "primary" && c.synchronousCount > 0;

/**
 * Every setting postgresql.conf sets, in file order: the one list, read by the Database's
 * `parameters` schema, which refuses them all (a new setting here is refused there with no edit).
 */
/** Each line's prefix: time, pid, then for a session's lines role@database and its application_name (the tier). */
export const PG_LOG_LINE_PREFIX = "%m [%p] %q%u@%d app=%a ";

export const POSTGRES_SETTINGS: Readonly<Record<string, PgSetting>> = {
  cluster_name: { from: "clusterName", value: (c) => `'${c.clusterName}'` },
  listen_addresses: fixed("'*'"),
  port: fixed(PG_PORT),
  hba_file: fixed(`'${PG_CONF_DIR}/pg_hba.conf'`),
  unix_socket_directories: fixed("'/var/run/postgresql'"),
  max_connections: standby("max_connections", "", "# Connections: every client process the stack runs must fit max_connections minus the reserved slots."),
  superuser_reserved_connections: { from: "superuserReservedConnections", value: (c) => c.superuserReservedConnections },
  password_encryption: fixed("scram-sha-256"),
  shared_buffers: {
    from: "sharedBuffersMiB",
    value: (c) => mib(c.sharedBuffersMiB),
    before: (c) => [
      "",
      `# Derived as pgtune (2026) does for a web application on ${c.pgtune.input.memoryMiB} MiB, ${c.pgtune.input.cpus} CPUs, ${c.pgtune.input.storage} storage:`,
      "# README, \"How the PostgreSQL settings are derived\". work_mem is lowered when the container cannot hold it.",
    ],
  },
  wal_buffers: tuned((t) => pgSize(t.walBuffersKiB)),
  huge_pages: tuned((t) => t.hugePages),
  work_mem: { from: "workMemMiB", value: (c) => mib(c.workMemMiB) },
  maintenance_work_mem: { from: "maintenanceWorkMemMiB", value: (c) => mib(c.maintenanceWorkMemMiB) },
  autovacuum_work_mem: { from: "pgtune", value: (c) => (c.pgtune.autovacuumWorkMemKiB === null ? undefined : pgSize(c.pgtune.autovacuumWorkMemKiB)) },
  effective_cache_size: { from: "effectiveCacheSizeMiB", value: (c) => mib(c.effectiveCacheSizeMiB) },
  min_wal_size: tuned((t) => pgSize(t.minWalSizeKiB), "", "# Checkpoints and WAL."),
  max_wal_size: tuned((t) => pgSize(t.maxWalSizeKiB)),
  checkpoint_completion_target: tuned((t) => t.checkpointCompletionTarget),
  wal_compression: tuned((t) => t.walCompression),
  random_page_cost: tuned((t) => t.randomPageCost, "", "# Planner."),
  effective_io_concurrency: tuned((t) => t.effectiveIoConcurrency),
  default_statistics_target: tuned((t) => t.defaultStatisticsTarget),
  jit: tuned((t) => t.jit),
  max_parallel_workers: tuned((t) => t.maxParallelWorkers, "", "# Parallel query: workers come from max_worker_processes (below); primary and standbys render the same."),
  max_parallel_workers_per_gather: tuned((t) => t.maxParallelWorkersPerGather),
  max_parallel_maintenance_workers: tuned((t) => t.maxParallelMaintenanceWorkers),
  wal_level: fixed("replica", "", "# Replication. WAL senders have their own slots (not in max_connections) since PostgreSQL 12."),
  max_wal_senders: standby("max_wal_senders"),
  max_replication_slots: { from: "maxReplicationSlots", value: (c) => c.maxReplicationSlots },
  max_slot_wal_keep_size: fixed("4GB", "# A slot keeps WAL for a standby that is away; cap it so a dead standby cannot fill the disk."),
  wal_keep_size: fixed("256MB"),
  synchronous_standby_names: {
    from: "synchronousCount",
    value: (c) => (synchronous(c) ? `'ANY ${c.synchronousCount} (${c.synchronousStandbys.join(", ")})'` : undefined),
    before: () => ["# A commit returns once this many standbys have flushed it: a failover loses no acknowledged write."],
  },
  synchronous_commit: { from: "synchronousCount", value: (c) => (synchronous(c) ? "on" : undefined) },
  hot_standby: fixed("on"),
  hot_standby_feedback: fixed("on"),
  max_worker_processes: standby("max_worker_processes", "", "# A hot standby refuses to start when any of these is lower than on its primary."),
  max_prepared_transactions: standby("max_prepared_transactions"),
  max_locks_per_transaction: standby("max_locks_per_transaction"),
  shared_preload_libraries: fixed(`'${PG_PRELOAD_LIBRARIES.join(",")}'`, "", "# Observability."),
  "pg_stat_statements.track": fixed("top"),
  track_io_timing: fixed("on"),
  log_min_duration_statement: {
    from: "slowQueryMs",
    value: (c) => c.slowQueryMs,
    before: () => ["# Logs: slow statements with their duration; each session's line names its tier (application_name, %a)."],
  },
  log_line_prefix: fixed(`'${PG_LOG_LINE_PREFIX}'`),
  log_lock_waits: fixed("on"),
  log_temp_files: fixed(0),
  log_destination: fixed("'stderr'"),
  logging_collector: fixed("off"),
};

/** A parameter value: numbers as they are, booleans on/off, strings quoted (a quote doubled). */
const pgValue = (v: string | number | boolean) => (typeof v === "number" ? String(v) : typeof v === "boolean" ? (v ? "on" : "off") : `'${v.replace(/'/g, "''")}'`);

export function renderPostgresqlConf(c: PostgresConfig): string {
  const table = Object.entries(POSTGRES_SETTINGS).flatMap(([key, s]) => {
    const v = s.value(c);
    return v === undefined ? [] : [...(s.before?.(c) ?? []), `${key} = ${v}`];
  });
  const extra = Object.entries(c.extraParameters ?? {}).map(([key, v]) => `${key} = ${pgValue(v)}`);
  return [
    "# Rendered by cdktf-webstack for PostgreSQL 15. Edit the stack, not this file.",
    `# Role: ${c.role}. Primary and standbys share every setting below except where noted.`,
    ...table,
    ...(extra.length > 0 ? ["", "# parameters of the Database, on every member; PostgreSQL refuses a name it does not know at start.", ...extra] : []),
    "",
  ].join("\n");
}

export interface PgHbaConfig {
  readonly subnet: string;
  readonly database: string;
  readonly user: string;
  readonly replicationUser: string;
  /** With failover: the role Patroni runs pg_rewind as, reading the leader's files through database postgres. */
  readonly rewindUser?: string;
  /**
   * With failover: Patroni asks a standby for its own timeline over a replication connection to
   * 127.0.0.1 (GET /primary, /replica and the leader race read it); without this line every such
   * call fails and logs a traceback. @default false
   */
  readonly localReplication?: boolean;
  /** The metrics exporter's role, from its containers' addresses only (monitored stacks). @default none */
  readonly exporter?: { readonly role: string; readonly addresses: readonly string[] };
}

export function renderPgHbaConf(c: PgHbaConfig): string {
  return [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "# TYPE  DATABASE        USER            ADDRESS                 METHOD",
    "# The superuser only through the local socket, by operating-system identity.",
    "local   all             postgres                                peer",
    "# Health checks and the start scripts.",
    "local   all             all                                     peer",
    `host    ${c.database.padEnd(15)} ${c.user.padEnd(15)} ${c.subnet.padEnd(23)} scram-sha-256`,
    `host    replication     ${c.replicationUser.padEnd(15)} ${c.subnet.padEnd(23)} scram-sha-256`,
    ...(c.localReplication ? [`host    replication     ${c.replicationUser.padEnd(15)} ${"127.0.0.1/32".padEnd(23)} scram-sha-256`] : []),
    ...(c.rewindUser ? [`host    postgres        ${c.rewindUser.padEnd(15)} ${c.subnet.padEnd(23)} scram-sha-256`] : []),
    ...(c.exporter ? ["# The metrics exporters, each from its own address.", ...c.exporter.addresses.map((a) => `host    ${c.database.padEnd(15)} ${c.exporter!.role.padEnd(15)} ${`${a}/32`.padEnd(23)} scram-sha-256`)] : []),
    "# Everything else, from anywhere, is refused.",
    "host    all             all                     0.0.0.0/0               reject",
    "host    all             all                     ::/0                    reject",
    "",
  ].join("\n");
}

export interface PgInitConfig {
  readonly database: string;
  readonly user: string;
  /** Unset with failover: Patroni creates the replication role (and the slots) itself. */
  readonly replicationUser?: string;
  readonly passwordEnv: string;
  readonly replicationPasswordEnv?: string;
  readonly replicationSlots: readonly string[];
  /** A login role for the metrics exporter: pg_monitor, and at most `connectionLimit` connections (monitored stacks). @default none */
  readonly exporter?: { readonly role: string; readonly passwordEnv: string; readonly connectionLimit: number };
}

/** Run once by psql on the first boot of the primary. Passwords come from the environment (psql 15 `\getenv`). */
export function renderPgInitSql(c: PgInitConfig): string {
  return [
    "-- Rendered by cdktf-webstack: roles and database, run once on the primary's first boot.",
    "\\set ON_ERROR_STOP on",
    `\\getenv app_password ${c.passwordEnv}`,
    ...(c.replicationUser ? [`\\getenv replication_password ${c.replicationPasswordEnv}`] : []),
    "SET password_encryption = 'scram-sha-256';",
    ...(c.replicationUser ? [`CREATE ROLE ${c.replicationUser} WITH LOGIN REPLICATION PASSWORD :'replication_password';`] : []),
    `CREATE ROLE ${c.user} WITH LOGIN PASSWORD :'app_password';`,
    `CREATE DATABASE ${c.database} OWNER ${c.user};`,
    ...(c.exporter
      ? [
          `\\getenv exporter_password ${c.exporter.passwordEnv}`,
          "-- Reads every session's and standby's statistics (pg_monitor); the limit is the budget's figure, enforced by the server.",
          `CREATE ROLE ${c.exporter.role} WITH LOGIN PASSWORD :'exporter_password' CONNECTION LIMIT ${c.exporter.connectionLimit} IN ROLE pg_monitor;`,
        ]
      : []),
    ...c.replicationSlots.map((slot) => `SELECT pg_create_physical_replication_slot('${slot}');`),
    `\\connect ${c.database}`,
    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    "",
  ].join("\n");
}
