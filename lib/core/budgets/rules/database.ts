/** PostgreSQL replication rules: WAL senders, slots, synchronous standbys, and a standby's settings. */
import { BASE_BACKUP_WAL_SENDERS, databaseTuning, primaryStandbySettings, replicaStandbySettings, type StandbySensitiveSettings } from "../../derive";
import { etcdClients, failoverBoundSeconds } from "../../failover";
import { componentsOf } from "../../topology";
import { measured, type Rule } from "../rule";

export const DB_WAL_SENDERS: Rule = {
  id: "WS-DB-WAL-SENDERS",
  title: "Replicas plus one base backup fit max_wal_senders",
  severity: "error",
  rationale: `Each streaming replica holds one WAL sender, and rebuilding a replica with pg_basebackup -X stream holds ${BASE_BACKUP_WAL_SENDERS} more.`,
  measure: (t) =>
    componentsOf(t, "database").map((db) => {
      const tuning = databaseTuning(db.settings);
      const used = db.settings.replicas + BASE_BACKUP_WAL_SENDERS;
      return measured(db, "max_wal_senders", {
        used,
        limit: tuning.maxWalSenders,
        unit: "WAL senders",
        lines: [`${db.settings.replicas} replicas + ${BASE_BACKUP_WAL_SENDERS} for one pg_basebackup -X stream = ${used}`, `max_wal_senders = ${tuning.maxWalSenders}`],
        fix: `raise maxWalSenders of ${db.path} to at least ${used}`,
      });
    }),
};

export const DB_REPLICATION_SLOTS: Rule = {
  id: "WS-DB-REPLICATION-SLOTS",
  title: "One replication slot per replica fits max_replication_slots",
  severity: "error",
  rationale: "Each replica streams from its own physical slot, created by the init script; a missing slot makes the replica's bootstrap fail.",
  measure: (t) =>
    componentsOf(t, "database").map((db) => {
      const tuning = databaseTuning(db.settings);
      return measured(db, "max_replication_slots", {
        used: db.settings.replicas,
        limit: tuning.maxReplicationSlots,
        unit: "slots",
        lines: [`${db.settings.replicas} replicas x 1 slot = ${db.settings.replicas}`, `max_replication_slots = ${tuning.maxReplicationSlots}`],
        fix: `raise maxReplicationSlots of ${db.path} to at least ${db.settings.replicas}`,
      });
    }),
};

export const DB_SYNCHRONOUS_REPLICAS: Rule = {
  id: "WS-DB-SYNCHRONOUS-REPLICAS",
  title: "Synchronous replicas are at most the replicas there are",
  severity: "error",
  warnAt: null,
  rationale: "With synchronous_standby_names asking for more confirmations than there are standbys, every commit on the primary waits forever.",
  measure: (t) =>
    componentsOf(t, "database")
      .filter((db) => db.settings.synchronousReplicas > 0)
      .map((db) =>
        measured(db, "synchronous replicas", {
          used: db.settings.synchronousReplicas,
          limit: db.settings.replicas,
          unit: "replicas",
          lines: [`synchronousReplicas = ${db.settings.synchronousReplicas}`, `replicas = ${db.settings.replicas}`],
          fix: `lower synchronousReplicas of ${db.path} to at most ${db.settings.replicas}, or add replicas`,
        }),
      ),
};

/** The Database prop of each standby-sensitive setting, as users write it. */
const PROP_OF: Record<keyof StandbySensitiveSettings, string> = {
  max_connections: "maxConnections",
  max_worker_processes: "maxWorkerProcesses",
  max_wal_senders: "maxWalSenders",
  max_prepared_transactions: "maxPreparedTransactions",
  max_locks_per_transaction: "maxLocksPerTransaction",
};

export const DB_STANDBY_SETTINGS: Rule = {
  id: "WS-DB-STANDBY-SETTINGS",
  title: "Hot standby settings are at least the primary's",
  severity: "error",
  warnAt: null,
  rationale:
    "A hot standby refuses to start when max_connections, max_worker_processes, max_wal_senders, max_prepared_transactions or max_locks_per_transaction is lower than on its primary. max_worker_processes and the parallel-worker settings derive from cpus, which primary and replicas share, so they render the same; only standbyOverrides can lower one.",
  measure: (t) =>
    componentsOf(t, "database")
      .filter((db) => db.settings.replicas > 0)
      .flatMap((db) => {
        const primary = primaryStandbySettings(db.settings);
        const replica = replicaStandbySettings(db.settings);
        return (Object.keys(primary) as (keyof typeof primary)[]).map((name) =>
          measured(db, `replicas ${name}`, {
            used: primary[name],
            limit: replica[name],
            unit: name,
            lines: [`primary ${name} = ${primary[name]}`, `replica ${name} = ${replica[name]}`],
            fix: `remove standbyOverrides.${PROP_OF[name]} of ${db.path}, or set it to at least ${primary[name]}`,
          }),
        );
      }),
};

export const DB_ETCD_QUORUM: Rule = {
  id: "WS-DB-ETCD-QUORUM",
  title: "The etcd cluster of a failover database has an odd number of members",
  severity: "error",
  warnAt: null,
  rationale:
    "etcd needs a majority of its members to grant or renew Patroni's leader lock. An even count tolerates no more failures than the odd count below it " +
    "(4 members survive 1 loss, as 3 do) and a split into halves leaves no majority at all, so no leader; the extra member only adds a way to lose quorum.",
  measure: (t) =>
    componentsOf(t, "database")
      .filter((db) => db.settings.failover)
      .map((db) => {
        const f = db.settings.failover!;
        const majority = Math.floor(f.etcdMembers / 2) + 1;
        return measured(db, "etcd members", {
          used: f.etcdMembers % 2 === 0 ? 1 : 0,
          limit: 0,
          unit: "even counts",
          lines: [
            `etcdMembers = ${f.etcdMembers}: majority ${majority}, survives ${f.etcdMembers - majority} lost member${f.etcdMembers - majority === 1 ? "" : "s"}`,
            `clients: ${etcdClients(db.settings)} Patroni members, one connection each`,
            `a lost leader is replaced within ttl ${f.ttl} + loop_wait ${f.loopWait} = ${failoverBoundSeconds(f)} s`,
          ],
          fix: `set failover.etcdMembers of ${db.path} to ${f.etcdMembers - 1} or ${f.etcdMembers + 1}`,
        });
      }),
};
