/**
 * PgBouncer alerts, on what the stats exporter reads from its admin console: the console answering,
 * clients waiting for a server connection past reserve_pool_timeout, a pool's server connections
 * at default_pool_size and a database's at max_db_connections, and clients against WS-POOLER-CLIENTS.
 */
import { POOLER_CLIENTS } from "../budgets/rules/clients";
import { poolerDatabases, poolerMaxDbConnections } from "../derive";
import { databaseSlots } from "../layout";
import { PGBOUNCER_RESERVE_POOL_TIMEOUT_S } from "../render/pgbouncer";
import type { DatabaseModel, Topology } from "../topology";
import { gauge, num, warnShare, type AlertSpec } from "./spec";

export function poolerAlerts(t: Topology, db: DatabaseModel): AlertSpec[] {
  const s = db.settings;
  const p = s.pooler;
  const slot = databaseSlots(db).pooler;
  if (!p || !slot) return [];
  const sel = `job="pgbouncer",instance="${slot.key}"`;
  const id = { job: "pgbouncer", instance: slot.key };
  const pool = { ...id, database: poolerDatabases(s)[0].name, user: s.user };
  const poolSel = `${sel},database="${pool.database}",user="${pool.user}"`;
  const maxDb = poolerMaxDbConnections(p);
  const clients = POOLER_CLIENTS.measure(t).find((x) => x.constructPath === db.path);
  if (!clients) throw new Error(`internal: no WS-POOLER-CLIENTS measurement of ${db.path}`);
  const share = warnShare(POOLER_CLIENTS, t);
  const clientThreshold = share * clients.limit;
  const base = { group: db.id, component: db.path };
  return [
    {
      ...base,
      name: "PgbouncerDown",
      expr: `pgbouncer_up{${sel}} == 0`,
      forSeconds: 60,
      severity: "critical",
      summary: `${db.path}: PgBouncer's admin console does not answer the exporter: the app's connections to the database go through it`,
      threshold: "pgbouncer_up == 0 for 1 min",
      source: `the pooler of ${db.path} (the exporter logs in anew at each scrape)`,
      check: { series: [{ series: `pgbouncer_up{${sel}}`, firing: "0x30", quiet: "1x30" }], labels: id },
    },
    {
      ...base,
      name: "PgbouncerClientsWaiting",
      expr: `pgbouncer_pools_client_maxwait_seconds{${sel}} > ${PGBOUNCER_RESERVE_POOL_TIMEOUT_S}`,
      forSeconds: 60,
      severity: "warning",
      summary: `${db.path}: clients wait more than reserve_pool_timeout (${PGBOUNCER_RESERVE_POOL_TIMEOUT_S} s) for a server connection: the pool of ${p.defaultPoolSize} is busy and the reserve of ${p.reservePoolSize} does not absorb the excess`,
      threshold: `longest wait > ${PGBOUNCER_RESERVE_POOL_TIMEOUT_S} s for 1 min`,
      source: `reserve_pool_timeout ${PGBOUNCER_RESERVE_POOL_TIMEOUT_S} s (rendered in pgbouncer.ini): past it a waiting client gets a reserve connection`,
      check: { series: [gauge(`pgbouncer_pools_client_maxwait_seconds{${poolSel}}`, PGBOUNCER_RESERVE_POOL_TIMEOUT_S)], labels: pool },
    },
    {
      ...base,
      name: "PgbouncerPoolBusy",
      expr: `pgbouncer_pools_server_active_connections{${sel}} >= ${p.defaultPoolSize}`,
      forSeconds: 300,
      severity: "warning",
      summary: `${db.path}: every server connection of a pool's ${p.defaultPoolSize} (default_pool_size) runs a transaction for 5 min: more clients wait, then use the reserve`,
      threshold: `>= ${p.defaultPoolSize} active server connections in one pool for 5 min`,
      source: `pooler.defaultPoolSize ${p.defaultPoolSize}`,
      check: {
        series: [{ series: `pgbouncer_pools_server_active_connections{${poolSel}}`, firing: `${p.defaultPoolSize}x30`, quiet: `${p.defaultPoolSize - 1}x30` }],
        labels: pool,
      },
    },
    {
      ...base,
      name: "PgbouncerServerConnectionsAtMax",
      expr: `sum by (instance, database) (pgbouncer_pools_server_active_connections{${sel}}) >= ${maxDb}`,
      forSeconds: 60,
      severity: "critical",
      summary: `${db.path}: a database's server connections are all busy at max_db_connections (${maxDb}): the reserve is used up, and PgBouncer opens no more`,
      threshold: `>= ${maxDb} active server connections of one database for 1 min`,
      source: `max_db_connections = pooler.defaultPoolSize ${p.defaultPoolSize} + pooler.reservePoolSize ${p.reservePoolSize} (the cap WS-DB-CONNECTIONS counts)`,
      check: {
        series: [{ series: `pgbouncer_pools_server_active_connections{${poolSel}}`, firing: `${maxDb}x30`, quiet: `${maxDb - 1}x30` }],
        labels: { instance: slot.key, database: pool.database },
      },
    },
    {
      ...base,
      name: "PgbouncerClientsHigh",
      expr: `pgbouncer_used_clients{${sel}} > ${num(clientThreshold)}`,
      forSeconds: 300,
      severity: "warning",
      summary: `${db.path}: PgBouncer's clients above ${num(share * 100)} % of max_client_conn ${clients.limit}; past it PgBouncer refuses new clients`,
      threshold: `> ${num(clientThreshold)} clients`,
      source: `WS-POOLER-CLIENTS: warning share ${num(share)} x max_client_conn ${clients.limit}; the model counts ${clients.used}`,
      check: { series: [gauge(`pgbouncer_used_clients{${sel}}`, clientThreshold)], labels: id },
    },
  ];
}
