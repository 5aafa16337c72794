import { renderPgHbaConf, renderPgInitSql, renderPgPrimaryStart, renderPgReplicaStart, renderPostgresqlConf } from "../../lib";
import { pgtune } from "../../lib/core/pgtune";

const standby = { max_connections: 200, max_worker_processes: 8, max_wal_senders: 4, max_prepared_transactions: 0, max_locks_per_transaction: 64 };
const tuned = pgtune({ memoryMiB: 4096, cpus: 2, storage: "ssd", maxConnections: 200 });

test("postgresql.conf carries the budgeted settings", () => {
  const conf = renderPostgresqlConf({ role: "primary", clusterName: "db_primary", synchronousStandbys: ["db_replica_1"], synchronousCount: 1, standby, superuserReservedConnections: 3, maxReplicationSlots: 2, sharedBuffersMiB: 1024, workMemMiB: 4, maintenanceWorkMemMiB: 256, effectiveCacheSizeMiB: 3072, slowQueryMs: 500, pgtune: tuned });
  for (const line of [
    "max_connections = 200",
    "superuser_reserved_connections = 3",
    "shared_buffers = 1GB",
    "work_mem = 4MB",
    "wal_level = replica",
    "max_wal_senders = 4",
    "max_replication_slots = 2",
    "hot_standby = on",
    "shared_preload_libraries = 'pg_stat_statements'",
    "log_min_duration_statement = 500",
    "password_encryption = scram-sha-256",
    "cluster_name = 'db_primary'",
    "effective_cache_size = 3GB",
    "maintenance_work_mem = 256MB",
    "wal_buffers = 16MB",
    "synchronous_standby_names = 'ANY 1 (db_replica_1)'",
  ]) {
    expect(conf).toContain(`${line}\n`);
  }
});

test("fractional work_mem is rendered in kB", () => {
  const conf = renderPostgresqlConf({ role: "replica", clusterName: "db_replica_1", synchronousStandbys: [], synchronousCount: 0, standby, superuserReservedConnections: 3, maxReplicationSlots: 2, sharedBuffersMiB: 256, workMemMiB: 1.5, maintenanceWorkMemMiB: 64, effectiveCacheSizeMiB: 768, slowQueryMs: 0, pgtune: tuned });
  expect(conf).toContain("work_mem = 1536kB");
});

test("pg_hba.conf: scram from the subnet only, a replication role, the rest rejected", () => {
  const hba = renderPgHbaConf({ subnet: "172.30.0.0/16", database: "app", user: "app", replicationUser: "replicator" });
  expect(hba).toMatch(/^host\s+app\s+app\s+172\.30\.0\.0\/16\s+scram-sha-256$/m);
  expect(hba).toMatch(/^host\s+replication\s+replicator\s+172\.30\.0\.0\/16\s+scram-sha-256$/m);
  expect(hba).toMatch(/^host\s+all\s+all\s+0\.0\.0\.0\/0\s+reject$/m);
  expect(hba).not.toMatch(/trust|md5/);
});

test("init SQL reads passwords from the environment and creates the slots", () => {
  const sql = renderPgInitSql({ database: "app", user: "app", replicationUser: "replicator", passwordEnv: "PW", replicationPasswordEnv: "RPW", replicationSlots: ["db_replica_1"] });
  expect(sql).toContain("\\getenv app_password PW");
  expect(sql).toContain("CREATE ROLE app WITH LOGIN PASSWORD :'app_password';");
  expect(sql).toContain("SELECT pg_create_physical_replication_slot('db_replica_1');");
  expect(sql).not.toMatch(/PASSWORD '[^:]/);
});

test("start scripts: initdb once on the primary, pg_basebackup -R once on a replica", () => {
  const primary = renderPgPrimaryStart({ passwordEnv: "PW", replicationPasswordEnv: "RPW" });
  expect(primary).toContain('if [ ! -s "$PGDATA/PG_VERSION" ]; then');
  expect(primary).toContain("--auth-host=scram-sha-256");
  expect(primary).toContain('exec postgres -D "$PGDATA" -c config_file=/etc/postgresql/postgresql.conf');
  const replica = renderPgReplicaStart({ passwordEnv: "PW", replicationPasswordEnv: "RPW", primaryAddress: "10.0.1.10", replicationUser: "replicator", slot: "db_replica_1" });
  expect(replica).toContain("--write-recovery-conf --wal-method=stream");
  expect(replica).toContain("--slot=db_replica_1");
  expect(replica).toContain('PGPASSWORD="$RPW"');
});

test("only the primary waits for synchronous standbys: a promoted standby must not block its writes", () => {
  const common = { standby, superuserReservedConnections: 3, maxReplicationSlots: 2, sharedBuffersMiB: 256, workMemMiB: 4, maintenanceWorkMemMiB: 64, effectiveCacheSizeMiB: 768, slowQueryMs: 500, pgtune: tuned, synchronousStandbys: ["db_replica_1"], synchronousCount: 1 };
  expect(renderPostgresqlConf({ ...common, role: "primary", clusterName: "db_primary" })).toContain("synchronous_standby_names = 'ANY 1 (db_replica_1)'");
  expect(renderPostgresqlConf({ ...common, role: "replica", clusterName: "db_replica_1" })).not.toContain("synchronous_standby_names");
});

test("pgtune's other settings are rendered as derived: WAL, planner, parallel workers", () => {
  const common = { role: "primary" as const, clusterName: "db_primary", synchronousStandbys: [], synchronousCount: 0, standby, superuserReservedConnections: 3, maxReplicationSlots: 2, sharedBuffersMiB: 16384, workMemMiB: 64, maintenanceWorkMemMiB: 4096, effectiveCacheSizeMiB: 49152, slowQueryMs: 500 };
  const hdd = renderPostgresqlConf({ ...common, pgtune: pgtune({ memoryMiB: 65536, cpus: 16, storage: "hdd", maxConnections: 200 }) });
  for (const line of [
    "wal_buffers = 16MB",
    "huge_pages = try",
    "autovacuum_work_mem = 2GB",
    "min_wal_size = 1GB",
    "max_wal_size = 4GB",
    "checkpoint_completion_target = 0.9",
    "wal_compression = lz4",
    "random_page_cost = 4",
    "effective_io_concurrency = 2",
    "default_statistics_target = 100",
    "jit = off",
    "max_parallel_workers = 16",
    "max_parallel_workers_per_gather = 4",
    "max_parallel_maintenance_workers = 4",
  ]) {
    expect(hdd).toContain(`${line}\n`);
  }
  const ssd = renderPostgresqlConf({ ...common, pgtune: pgtune({ memoryMiB: 1024, cpus: 2, storage: "ssd", maxConnections: 50 }) });
  for (const line of ["wal_buffers = 7864kB", "huge_pages = off", "random_page_cost = 1.1", "effective_io_concurrency = 200", "max_parallel_workers = 2", "max_parallel_workers_per_gather = 1"]) {
    expect(ssd).toContain(`${line}\n`);
  }
  // Below 2 GB of maintenance_work_mem autovacuum uses it: no autovacuum_work_mem line.
  expect(ssd).not.toContain("autovacuum_work_mem");
  // Every setting once.
  const names = ssd.split("\n").filter((l) => /^[a-z_.]+ = /.test(l)).map((l) => l.split(" = ")[0]);
  expect(names.length).toBe(new Set(names).size);
});
