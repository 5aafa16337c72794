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

export function renderPostgresqlConf(c: PostgresConfig): string {
  const s = c.standby;
  const t = c.pgtune;
  const input = t.input;
  return [
    "# Rendered by cdktf-webstack for PostgreSQL 15. Edit the stack, not this file.",
    `# Role: ${c.role}. Primary and standbys share every setting below except where noted.`,
    `cluster_name = '${c.clusterName}'`,
    "listen_addresses = '*'",
    `port = ${PG_PORT}`,
    `hba_file = '${PG_CONF_DIR}/pg_hba.conf'`,
    "unix_socket_directories = '/var/run/postgresql'",
    "",
    "# Connections: every client process the stack runs must fit max_connections minus the reserved slots.",
    `max_connections = ${s.max_connections}`,
    `superuser_reserved_connections = ${c.superuserReservedConnections}`,
    "password_encryption = scram-sha-256",
    "",
    `# Derived as pgtune (2026) does for a web application on ${input.memoryMiB} MiB, ${input.cpus} CPUs, ${input.storage} storage:`,
    "# README, \"How the PostgreSQL settings are derived\". work_mem is lowered when the container cannot hold it.",
    `shared_buffers = ${mib(c.sharedBuffersMiB)}`,
    `wal_buffers = ${pgSize(t.walBuffersKiB)}`,
    `huge_pages = ${t.hugePages}`,
    `work_mem = ${mib(c.workMemMiB)}`,
    `maintenance_work_mem = ${mib(c.maintenanceWorkMemMiB)}`,
    ...(t.autovacuumWorkMemKiB === null ? [] : [`autovacuum_work_mem = ${pgSize(t.autovacuumWorkMemKiB)}`]),
    `effective_cache_size = ${mib(c.effectiveCacheSizeMiB)}`,
    "",
    "# Checkpoints and WAL.",
    `min_wal_size = ${pgSize(t.minWalSizeKiB)}`,
    `max_wal_size = ${pgSize(t.maxWalSizeKiB)}`,
    `checkpoint_completion_target = ${t.checkpointCompletionTarget}`,
    `wal_compression = ${t.walCompression}`,
    "",
    "# Planner.",
    `random_page_cost = ${t.randomPageCost}`,
    `effective_io_concurrency = ${t.effectiveIoConcurrency}`,
    `default_statistics_target = ${t.defaultStatisticsTarget}`,
    `jit = ${t.jit}`,
    "",
    "# Parallel query: workers come from max_worker_processes (below); primary and standbys render the same.",
    `max_parallel_workers = ${t.maxParallelWorkers}`,
    `max_parallel_workers_per_gather = ${t.maxParallelWorkersPerGather}`,
    `max_parallel_maintenance_workers = ${t.maxParallelMaintenanceWorkers}`,
    "",
    "# Replication. WAL senders have their own slots (not in max_connections) since PostgreSQL 12.",
    "wal_level = replica",
    `max_wal_senders = ${s.max_wal_senders}`,
    `max_replication_slots = ${c.maxReplicationSlots}`,
    "# A slot keeps WAL for a standby that is away; cap it so a dead standby cannot fill the disk.",
    "max_slot_wal_keep_size = 4GB",
    "wal_keep_size = 256MB",
    // Only the primary waits for standbys. A standby rendered with this setting would, once promoted,
    // wait for a standby that does not exist yet and block every write.
    ...(c.role === "primary" && c.synchronousCount > 0
      ? [
          "# A commit returns once this many standbys have flushed it: a failover loses no acknowledged write.",
          `synchronous_standby_names = 'ANY ${c.synchronousCount} (${c.synchronousStandbys.join(", ")})'`,
          "synchronous_commit = on",
        ]
      : []),
    "hot_standby = on",
    "hot_standby_feedback = on",
    "",
    "# A hot standby refuses to start when any of these is lower than on its primary.",
    `max_worker_processes = ${s.max_worker_processes}`,
    `max_prepared_transactions = ${s.max_prepared_transactions}`,
    `max_locks_per_transaction = ${s.max_locks_per_transaction}`,
    "",
    "# Observability.",
    "shared_preload_libraries = 'pg_stat_statements'",
    "pg_stat_statements.track = top",
    "track_io_timing = on",
    `log_min_duration_statement = ${c.slowQueryMs}`,
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "log_lock_waits = on",
    "log_temp_files = 0",
    "log_destination = 'stderr'",
    "logging_collector = off",
    "",
  ].join("\n");
}

export interface PgHbaConfig {
  readonly subnet: string;
  readonly database: string;
  readonly user: string;
  readonly replicationUser: string;
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
  readonly replicationUser: string;
  readonly passwordEnv: string;
  readonly replicationPasswordEnv: string;
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
    `\\getenv replication_password ${c.replicationPasswordEnv}`,
    "SET password_encryption = 'scram-sha-256';",
    `CREATE ROLE ${c.replicationUser} WITH LOGIN REPLICATION PASSWORD :'replication_password';`,
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

const SCRIPT_HEAD = [
  "#!/bin/sh",
  "# Rendered by cdktf-webstack. Edit the stack, not this file.",
  "set -eu",
  `PATH="${PG_BIN}:$PATH"`,
  `PGDATA="${PG_DATA}"`,
  "export PATH PGDATA",
];

export interface PgStartConfig {
  readonly passwordEnv: string;
  readonly replicationPasswordEnv: string;
}

export function renderPgPrimaryStart(c: PgStartConfig): string {
  return [
    ...SCRIPT_HEAD,
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    `  : "\${${c.passwordEnv}:?must be set}" "\${${c.replicationPasswordEnv}:?must be set}"`,
    "  # First boot: a new cluster, then roles and database from init.sql, with no TCP listener meanwhile",
    "  # and no synchronous standby to wait for (none exists yet).",
    '  initdb --pgdata="$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C',
    `  pg_ctl --pgdata="$PGDATA" --wait --options="-c config_file=${PG_CONF_DIR}/postgresql.conf -c listen_addresses='' -c synchronous_standby_names=''" start`,
    `  psql --no-psqlrc --username=postgres --dbname=postgres --file=${PG_CONF_DIR}/init.sql`,
    '  pg_ctl --pgdata="$PGDATA" --wait --mode=fast stop',
    "fi",
    `exec postgres -D "$PGDATA" -c config_file=${PG_CONF_DIR}/postgresql.conf`,
    "",
  ].join("\n");
}

export interface PgReplicaStartConfig extends PgStartConfig {
  readonly primaryAddress: string;
  readonly replicationUser: string;
  readonly slot: string;
}

export function renderPgReplicaStart(c: PgReplicaStartConfig): string {
  return [
    ...SCRIPT_HEAD,
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    `  : "\${${c.replicationPasswordEnv}:?must be set}"`,
    "  # Probe as the replication role, which pg_hba.conf accepts from the subnet: no FATAL line on the primary.",
    `  until pg_isready --host=${c.primaryAddress} --port=${PG_PORT} --username=${c.replicationUser} --dbname=postgres --quiet; do sleep 1; done`,
    "  # Empty data directory: copy the primary and write standby.signal and primary_conninfo (-R).",
    `  PGPASSWORD="$${c.replicationPasswordEnv}" pg_basebackup --host=${c.primaryAddress} --port=${PG_PORT} \\`,
    `    --username=${c.replicationUser} --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream \\`,
    `    --slot=${c.slot} --checkpoint=fast --no-password`,
    '  chmod 0700 "$PGDATA"',
    "fi",
    `exec postgres -D "$PGDATA" -c config_file=${PG_CONF_DIR}/postgresql.conf`,
    "",
  ].join("\n");
}

/** Promotes this standby to primary (run it in the replica's container when the primary is lost). */
export function renderPgPromote(): string {
  return [
    ...SCRIPT_HEAD,
    "# Refuse to promote a node that is already a primary.",
    'if [ "$(psql --no-psqlrc -At --username=postgres --dbname=postgres -c "SELECT pg_is_in_recovery()")" != "t" ]; then',
    '  echo "not a standby: nothing to promote" >&2',
    "  exit 1",
    "fi",
    'pg_ctl --pgdata="$PGDATA" --wait promote',
    "",
  ].join("\n");
}
