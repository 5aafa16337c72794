/**
 * The automatic failover mode of a Database: an etcd cluster, and Patroni on every PostgreSQL member
 * (the "primary" slot is only the member listed first; whichever member holds the leader lock is
 * the primary). Nothing here is rendered in the manual mode.
 */
import { databaseTuning, primaryStandbySettings } from "../derive";
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  ETCD_QUOTA_MIB,
  PATRONI_API_PORT,
  PATRONI_API_USER,
  REWIND_USER,
  type FailoverSettings,
} from "../failover";
import { databaseSlots, type Slot } from "../layout";
import { ETCD_CONF, ETCD_DATA, renderEtcdConf } from "../render/etcd";
import { PATRONI_DIR, renderPatroniPostBootstrap, renderPatroniStart, renderPatroniYml } from "../render/patroni";
import { PG_CONF_DIR, PG_PORT, renderPgHbaConf, renderPgInitSql } from "../render/postgres";
import { EXPORTER_ROLE, POSTGRES_EXPORTER_CONNECTIONS } from "../monitoring";
import type { DatabaseModel } from "../topology";
import { ENV, databasePassword, secretNames } from "./clients";
import { EXPORTER_PASSWORD_ENV, exporterAddress, exporterDatabasePassword } from "./monitoring";
import { cmd, file, shell, snake, type PlanContext } from "./context";

/** Docker's way to run a container without a health check (its image's too). */
const NO_HEALTHCHECK = { test: ["NONE"], intervalSeconds: 0, timeoutSeconds: 0, retries: 0, startPeriodSeconds: 0 };

export const PATRONI_ENV = {
  replicationPassword: "PATRONI_REPLICATION_PASSWORD",
  rewindPassword: "PATRONI_REWIND_PASSWORD",
  apiPassword: "PATRONI_RESTAPI_PASSWORD",
} as const;

/** The settings Patroni reads from its cluster-wide configuration only (CMDLINE_OPTIONS), from the budgets. */
export function patroniClusterParameters(db: DatabaseModel): Record<string, string | number> {
  const s = db.settings;
  const standby = primaryStandbySettings(s);
  return {
    max_connections: standby.max_connections,
    max_worker_processes: standby.max_worker_processes,
    max_wal_senders: standby.max_wal_senders,
    max_prepared_transactions: standby.max_prepared_transactions,
    max_locks_per_transaction: standby.max_locks_per_transaction,
    max_replication_slots: databaseTuning(s).maxReplicationSlots,
    wal_level: "replica",
    hot_standby: "on",
    wal_keep_size: "256MB",
    wal_log_hints: "on",
  };
}

export function planFailoverDatabase(
  ctx: PlanContext,
  db: DatabaseModel,
  f: FailoverSettings,
  postgresqlConf: (clusterName: string) => string,
  health: ReturnType<typeof shell>,
): void {
  const s = db.settings;
  const slots = databaseSlots(db);
  const password = databasePassword(ctx, db);
  const replicationPassword = ctx.secret(secretNames.replicationPassword(db), `password of the replication role of ${db.path}`);
  const rewindPassword = ctx.secret(`${snake(db.id)}_rewind_password`, `password of the pg_rewind role of ${db.path} (Patroni)`);
  const apiPassword = ctx.secret(`${snake(db.id)}_patroni_api_password`, `password of Patroni's REST API of ${db.path} (its unsafe endpoints)`);

  const etcdMembers = slots.etcd.map((slot) => ({ slot, name: slot.key, address: ctx.address(db, slot) }));
  // On a swarm a member's address is its service's DNS name, which names no local interface: the
  // daemons listen on every address of the task (the overlay network and loopback) and advertise the name.
  const listenAddress = ctx.swarm ? "0.0.0.0" : undefined;
  const clusterToken = `${ctx.topology.prefix}-${db.id}-etcd`;
  for (const m of etcdMembers) {
    ctx.container({
      key: m.slot.key,
      constructPath: db.path,
      role: "etcd",
      image: f.etcdImage,
      command: ["etcd", `--config-file=${ETCD_CONF}`],
      env: {},
      address: m.address,
      listens: [
        { port: ETCD_CLIENT_PORT, purpose: "etcd clients (Patroni)" },
        { port: ETCD_PEER_PORT, purpose: "etcd peers" },
      ],
      files: [
        file(
          ETCD_CONF,
          renderEtcdConf({
            name: m.name,
            address: m.address,
            clientPort: ETCD_CLIENT_PORT,
            peerPort: ETCD_PEER_PORT,
            members: etcdMembers,
            clusterToken,
            quotaBackendBytes: ETCD_QUOTA_MIB * 1024 * 1024,
            ...(listenAddress ? { listenAddress } : {}),
          }),
        ),
      ],
      mounts: [ctx.volume(db, `${m.slot.key}-data`, ETCD_DATA)],
      memoryMiB: f.etcdMemoryMiB,
      // Swarm puts a task's name in its DNS only once the task is healthy, and etcd answers a health
      // check only with a quorum, which it forms by finding its peers' names: with a check, no member
      // would ever be found. There Patroni's members, which need the quorum, carry the check.
      healthcheck: ctx.swarm ? NO_HEALTHCHECK : cmd("etcdctl", `--endpoints=http://127.0.0.1:${ETCD_CLIENT_PORT}`, "endpoint", "health"),
    });
  }

  // In a monitored stack, each member's postgres_exporter logs in as the exporter role, which the
  // first leader's post-bootstrap creates with the application role; any member may lead later.
  const exporters = [slots.primary, ...slots.replicas].map((slot) => exporterAddress(ctx, slot.key)).filter((a): a is string => a !== undefined);
  const exporterPassword = exporters.length > 0 ? exporterDatabasePassword(ctx, db) : undefined;
  const hba = renderPgHbaConf({
    subnet: ctx.topology.settings.subnet,
    database: s.databaseName,
    user: s.user,
    replicationUser: "replicator",
    rewindUser: REWIND_USER,
    localReplication: true,
    ...(exporterPassword ? { exporter: { role: EXPORTER_ROLE, addresses: exporters } } : {}),
  });
  const initSql = renderPgInitSql({
    database: s.databaseName,
    user: s.user,
    passwordEnv: ENV.dbPassword,
    replicationSlots: [],
    ...(exporterPassword ? { exporter: { role: EXPORTER_ROLE, passwordEnv: EXPORTER_PASSWORD_ENV, connectionLimit: POSTGRES_EXPORTER_CONNECTIONS } } : {}),
  });
  const env = {
    [ENV.dbPassword]: password,
    ...(exporterPassword ? { [EXPORTER_PASSWORD_ENV]: exporterPassword } : {}),
    [PATRONI_ENV.replicationPassword]: replicationPassword,
    [PATRONI_ENV.rewindPassword]: rewindPassword,
    [PATRONI_ENV.apiPassword]: apiPassword,
  };
  const clusterParameters = patroniClusterParameters(db);
  const members: Slot[] = [slots.primary, ...slots.replicas];
  const cpuLimit = s.cpus === undefined ? {} : { cpus: s.cpus };
  for (const slot of members) {
    const address = ctx.address(db, slot);
    const yml = renderPatroniYml({
      scope: `${ctx.topology.prefix}-${db.id}`,
      name: slot.key,
      address,
      ...(listenAddress ? { listenAddress } : {}),
      apiPort: PATRONI_API_PORT,
      apiUser: PATRONI_API_USER,
      etcdHosts: etcdMembers.map((m) => `${m.address}:${ETCD_CLIENT_PORT}`),
      ttl: f.ttl,
      loopWait: f.loopWait,
      retryTimeout: f.retryTimeout,
      maximumLagOnFailover: f.maximumLagOnFailover,
      synchronousNodeCount: s.synchronousReplicas,
      synchronousModeStrict: f.synchronousModeStrict,
      clusterParameters,
      replicationUser: "replicator",
      rewindUser: REWIND_USER,
      pgHba: hba,
    });
    ctx.container({
      key: slot.key,
      constructPath: db.path,
      role: "postgres-patroni",
      image: f.image,
      command: ["/bin/sh", `${PATRONI_DIR}/start.sh`],
      user: "postgres",
      env,
      address,
      listens: [
        { port: PG_PORT, purpose: "postgresql (writable on the leader only)" },
        { port: PATRONI_API_PORT, purpose: "Patroni REST API (internal network only)" },
      ],
      files: [
        file(`${PG_CONF_DIR}/postgresql.conf`, postgresqlConf(slot.key.replace(/-/g, "_"))),
        file(`${PG_CONF_DIR}/pg_hba.conf`, hba),
        file(`${PG_CONF_DIR}/init.sql`, initSql),
        file(`${PATRONI_DIR}/patroni.yml`, yml),
        file(`${PATRONI_DIR}/start.sh`, renderPatroniStart({ requiredEnv: Object.keys(env) }), true),
        file(`${PATRONI_DIR}/post-bootstrap.sh`, renderPatroniPostBootstrap(), true),
      ],
      mounts: [ctx.volume(db, `${slot.key}-data`, "/var/lib/postgresql/data")],
      memoryMiB: s.memoryMiB,
      ...cpuLimit,
      healthcheck: { ...health, startPeriodSeconds: 120 },
      dependsOn: etcdMembers.map((m) => m.slot.key),
      stopTimeoutSeconds: 60,
    });
  }
}
