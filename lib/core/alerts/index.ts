/** Every alert of a monitored stack, generated from its model, in construct order. */
import { monitoringSlots } from "../layout";
import { monitoringOf } from "../monitoring";
import type { Topology } from "../topology";
import { containerAlerts } from "./containers";
import { databaseAlerts } from "./database";
import { poolerAlerts } from "./pooler";
import { searchAlerts } from "./search";
import { memcachedAlerts, uwsgiAlerts } from "./stats";
import { loadBalancerAlerts, rabbitmqAlerts, redisAlerts, stackAlerts } from "./services";
import type { AlertSpec } from "./spec";

export function generateAlerts(t: Topology): AlertSpec[] {
  const m = monitoringOf(t);
  if (!m) return [];
  const alerts: AlertSpec[] = [];
  for (const c of t.components) {
    if (c.kind === "database") alerts.push(...databaseAlerts(t, m, c), ...poolerAlerts(t, c));
    else if (c.kind === "loadBalancer") alerts.push(...loadBalancerAlerts(t, m, c));
    else if ((c.kind === "cache" || c.kind === "queue") && c.settings.engine === "redis") alerts.push(...redisAlerts(t, c));
    else if (c.kind === "queue" && c.settings.engine === "rabbitmq") alerts.push(...rabbitmqAlerts(t, c));
    else if (c.kind === "webTier") alerts.push(...uwsgiAlerts(t, c));
    else if (c.kind === "cache") alerts.push(...memcachedAlerts(t, c));
    else if (c.kind === "searchCluster") alerts.push(...searchAlerts(c));
  }
  const nginx = monitoringSlots(m, t).exporters.find((e) => e.exporter === "nginx");
  alerts.push(...stackAlerts(t, m, nginx?.targetKey));
  alerts.push(...containerAlerts(t, m));
  return alerts;
}

export type { AlertSpec, AlertSeries } from "./spec";
