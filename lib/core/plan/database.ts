/** PostgreSQL: the primary, an optional PgBouncer in front of it, and `replicas` streaming hot standbys. */
import { databaseTuning, primaryStandbySettings, replicaStandbySettings } from "../derive";
import { databaseSlots } from "../layout";
import { PG_CONF_DIR, PG_PORT, renderPgHbaConf, renderPgInitSql, renderPostgresqlConf } from "../render/postgres";
import { renderPgPrimaryStart, renderPgPromote, renderPgReplicaStart } from "../render/postgres-scripts";
import { EXPORTER_ROLE, POSTGRES_EXPORTER_CONNECTIONS } from "../monitoring";
import type { DatabaseModel } from "../topology";
import { EXPORTER_PASSWORD_ENV, exporterAddress, exporterDatabasePassword } from "./monitoring";
import { ENV, databasePassword, secretNames } from "./clients";
import { file, shell, snake, type PlanContext, type Planner } from "./context";
import { planFailoverDatabase } from "./database-failover";
import { planPooler } from "./database-pooler";

export const REPLICATION_USER = "replicator";

export function replicaSlotName(db: DatabaseModel, replica: number): string {
  return `${snake(db.id)}_replica_${replica}`;
}

export const databasePlanner: Planner<"database"> = {
  kind: "database",
  plan(ctx: PlanContext, db: DatabaseModel): void {
    const s = db.settings;
    const tuning = databaseTuning(s);
    const slots = databaseSlots(db);
    const password = databasePassword(ctx, db);
    const replicationPassword = ctx.secret(secretNames.replicationPassword(db), `password of the replication role of ${db.path}`);
    const exporters = [slots.primary, ...slots.replicas].map((slot) => exporterAddress(ctx, slot.key)).filter((a): a is string => a !== undefined);
    const exporterPassword = exporters.length > 0 ? exporterDatabasePassword(ctx, db) : undefined;
    const env = {
      [ENV.dbPassword]: password,
      [ENV.replicationPassword]: replicationPassword,
      ...(exporterPassword ? { [EXPORTER_PASSWORD_ENV]: exporterPassword } : {}),
    };
    const replicationSlots = slots.replicas.map((_, i) => replicaSlotName(db, i + 1));
    const confFor = (role: "primary" | "replica", clusterName: string) =>
      renderPostgresqlConf({
        role,
        clusterName,
        synchronousStandbys: replicationSlots,
        synchronousCount: s.synchronousReplicas,
        standby: role === "primary" ? primaryStandbySettings(s) : replicaStandbySettings(s),
        superuserReservedConnections: s.superuserReservedConnections,
        maxReplicationSlots: tuning.maxReplicationSlots,
        sharedBuffersMiB: tuning.sharedBuffersMiB,
        workMemMiB: tuning.workMemMiB,
        maintenanceWorkMemMiB: tuning.maintenanceWorkMemMiB,
        effectiveCacheSizeMiB: tuning.effectiveCacheSizeMiB,
        slowQueryMs: s.slowQueryMs,
        pgtune: tuning.pgtune,
        extraParameters: s.parameters,
      });
    const hba = renderPgHbaConf({
      subnet: ctx.topology.settings.subnet,
      database: s.databaseName,
      user: s.user,
      replicationUser: REPLICATION_USER,
      ...(exporterPassword ? { exporter: { role: EXPORTER_ROLE, addresses: exporters } } : {}),
    });
    const start = { passwordEnv: ENV.dbPassword, replicationPasswordEnv: ENV.replicationPassword };
    // Through the socket, which pg_hba.conf allows by peer authentication; a TCP probe from 127.0.0.1
    // would be rejected (and logged as FATAL) every ten seconds.
    const health = shell(`PATH=/usr/lib/postgresql/15/bin:$PATH pg_isready --host=/var/run/postgresql --port=${PG_PORT} --quiet`, 30);
    const primaryAddress = ctx.address(db, slots.primary);
    // The CPUs the parallel settings assume, as the containers' limit: only when set (a limit above the
    // host's CPUs makes Docker refuse the container).
    const cpuLimit = s.cpus === undefined ? {} : { cpus: s.cpus };
    // Manual failover: each member asks the others before starting writable (see renderPgPrimaryStart).
    const fenceOf = (self: { index: number }) => ({
      peers: [slots.primary, ...slots.replicas].filter((m) => m.index !== self.index).map((m) => ctx.address(db, m)),
      user: s.user,
      database: s.databaseName,
    });
    if (s.failover) {
      // Rendered as a standby's: Patroni sets synchronous_standby_names on whichever member leads.
      planFailoverDatabase(ctx, db, s.failover, (name) => confFor("replica", name), health);
      planPooler(ctx, db);
      return;
    }

    ctx.container({
      key: slots.primary.key,
      constructPath: db.path,
      role: "postgres-primary",
      image: s.image,
      command: ["/bin/sh", `${PG_CONF_DIR}/start.sh`],
      user: "postgres",
      env,
      address: primaryAddress,
      listens: [{ port: PG_PORT, purpose: "postgresql" }],
      files: [
        file(`${PG_CONF_DIR}/postgresql.conf`, confFor("primary", `${snake(db.id)}_primary`)),
        file(`${PG_CONF_DIR}/pg_hba.conf`, hba),
        file(
          `${PG_CONF_DIR}/init.sql`,
          renderPgInitSql({
            database: s.databaseName,
            user: s.user,
            replicationUser: REPLICATION_USER,
            passwordEnv: ENV.dbPassword,
            replicationPasswordEnv: ENV.replicationPassword,
            replicationSlots,
            ...(exporterPassword ? { exporter: { role: EXPORTER_ROLE, passwordEnv: EXPORTER_PASSWORD_ENV, connectionLimit: POSTGRES_EXPORTER_CONNECTIONS } } : {}),
          }),
        ),
        file(`${PG_CONF_DIR}/start.sh`, renderPgPrimaryStart({ ...start, fence: fenceOf(slots.primary) }), true),
      ],
      mounts: [ctx.volume(db, `${slots.primary.key}-data`, "/var/lib/postgresql/data")],
      memoryMiB: s.memoryMiB,
      ...cpuLimit,
      healthcheck: health,
      stopTimeoutSeconds: 60,
    });
    planPooler(ctx, db);
    slots.replicas.forEach((replica, i) => {
      const slotName = replicaSlotName(db, i + 1);
      ctx.container({
        key: replica.key,
        constructPath: db.path,
        role: "postgres-replica",
        image: s.image,
        command: ["/bin/sh", `${PG_CONF_DIR}/start.sh`],
        user: "postgres",
        env,
        address: ctx.address(db, replica),
        listens: [{ port: PG_PORT, purpose: "postgresql (hot standby)" }],
        files: [
          file(`${PG_CONF_DIR}/postgresql.conf`, confFor("replica", slotName)),
          file(`${PG_CONF_DIR}/pg_hba.conf`, hba),
          file(`${PG_CONF_DIR}/start.sh`, renderPgReplicaStart({ ...start, primaryAddress, replicationUser: REPLICATION_USER, slot: slotName, fence: fenceOf(replica) }), true),
          file(`${PG_CONF_DIR}/promote.sh`, renderPgPromote(), true),
        ],
        mounts: [ctx.volume(db, `${replica.key}-data`, "/var/lib/postgresql/data")],
        memoryMiB: s.memoryMiB,
        ...cpuLimit,
        healthcheck: { ...health, startPeriodSeconds: 120 },
        dependsOn: [slots.primary.key],
        stopTimeoutSeconds: 60,
      });
    });
  },
};
