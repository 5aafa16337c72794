/**
 * PostgreSQL alerts: connections against WS-DB-CONNECTIONS (the whole server, and each tier against
 * its own line of that rule), and replication against the model's replicas and the lag bound.
 */
import { applicationDatabaseClients, exporterDatabaseClients } from "../clients";
import { DB_CONNECTIONS } from "../budgets/rules/clients";
import { databaseSlots } from "../layout";
import type { DatabaseModel, MonitoringModel, Topology } from "../topology";
import { gauge, num, oneOf, warnShare, type AlertSpec } from "./spec";

export function databaseAlerts(t: Topology, m: MonitoringModel, db: DatabaseModel): AlertSpec[] {
  const slots = databaseSlots(db);
  const servers = [slots.primary, ...slots.replicas].map((s) => s.key);
  const measurement = DB_CONNECTIONS.measure(t).find((x) => x.constructPath === db.path && x.subject === `${db.id} client connections`);
  if (!measurement) throw new Error(`internal: no WS-DB-CONNECTIONS measurement of ${db.path}`);
  const share = warnShare(DB_CONNECTIONS, t);
  const threshold = share * measurement.limit;
  const instances = `instance${oneOf(servers)}`;
  const first = { job: "postgres", instance: servers[0] };
  const alerts: AlertSpec[] = [
    {
      group: db.id,
      component: db.path,
      name: "DatabaseConnectionsHigh",
      expr: `sum by (instance) (webstack_connections_count{job="postgres",${instances}}) > ${num(threshold)}`,
      forSeconds: 60,
      severity: "warning",
      summary: `${db.path}: client connections above ${num(share * 100)} % of the ${measurement.limit} usable`,
      threshold: `> ${num(threshold)} connections`,
      source: `WS-DB-CONNECTIONS: warning share ${num(share)} x usable ${measurement.limit} (max_connections ${db.settings.maxConnections} - superuser_reserved_connections ${db.settings.superuserReservedConnections}); the model counts ${measurement.used}`,
      check: { series: [gauge(`webstack_connections_count{job="postgres",instance="${servers[0]}",application_name="web"}`, threshold)], labels: { instance: servers[0] } },
    },
  ];
  // Behind PgBouncer the server sees its pools, not the tiers: the tiers' shares are PgBouncer's clients.
  const tiers = db.settings.pooler ? exporterDatabaseClients(t) : [...applicationDatabaseClients(t, db), ...exporterDatabaseClients(t)];
  for (const line of tiers.filter((l) => l.applicationName !== undefined)) {
    const name = line.applicationName!;
    alerts.push({
      group: db.id,
      component: db.path,
      name: "DatabaseTierOverShare",
      ruleLabels: { tier: name },
      expr: `sum by (instance, application_name) (webstack_connections_count{job="postgres",${instances},application_name="${name}"}) > ${line.count}`,
      forSeconds: 60,
      severity: "warning",
      summary: `${db.path}: ${line.source} holds more connections than the ${line.count} its budget counts`,
      threshold: `> ${line.count} connections with application_name ${name}`,
      source: `WS-DB-CONNECTIONS, line of ${line.source}: ${line.formula}`,
      check: { series: [gauge(`webstack_connections_count{job="postgres",instance="${servers[0]}",application_name="${name}"}`, line.count)], labels: { instance: servers[0], application_name: name } },
    });
  }
  if (slots.replicas.length > 0) {
    const n = slots.replicas.length;
    alerts.push(
      {
        group: db.id,
        component: db.path,
        name: "ReplicaNotStreaming",
        expr: `webstack_replication_streaming{job="postgres",instance="${servers[0]}"} < ${n}`,
        forSeconds: 60,
        severity: "critical",
        summary: `${db.path}: fewer than its ${n} replica${n > 1 ? "s" : ""} stream from the primary`,
        threshold: `< ${n} standbys streaming`,
        source: `the model: replicas = ${n}`,
        check: { series: [{ series: `webstack_replication_streaming{${selectorLabels(first)}}`, firing: `${n - 1}x30`, quiet: `${n}x30` }], labels: first },
      },
      {
        group: db.id,
        component: db.path,
        name: "ReplicaLagging",
        expr: `webstack_replication_lag_seconds{job="postgres",instance="${servers[0]}"} > ${m.settings.replicationLagSeconds}`,
        forSeconds: 120,
        severity: "warning",
        summary: `${db.path}: a standby replays more than ${m.settings.replicationLagSeconds} s behind the primary`,
        threshold: `> ${m.settings.replicationLagSeconds} s replay lag`,
        source: `Monitoring prop replicationLagSeconds (${m.settings.replicationLagSeconds})`,
        check: { series: [gauge(`webstack_replication_lag_seconds{${selectorLabels(first)}}`, m.settings.replicationLagSeconds)], labels: first },
      },
    );
  }
  return alerts;
}

const selectorLabels = (labels: Readonly<Record<string, string>>) => Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
