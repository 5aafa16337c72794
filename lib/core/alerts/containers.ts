/**
 * Alerts on every container's memory, as the stats exporter reads it from the container's cgroup
 * (plan/cgroups.ts): the working set near the limit the model gave the container, and a container
 * whose cgroup the exporter cannot find (a `cgroupDriver` that is not the engine's).
 */
import { APP_MEMORY } from "../budgets/rules/memory";
import { monitoringSlots } from "../layout";
import { EXPORTER_MEMORY_MIB } from "../monitoring";
import type { MonitoringModel, Topology } from "../topology";
import { num, warnShare, type AlertSpec } from "./spec";

/** The scrape job of the stats exporter's page of every container's memory. */
export const CONTAINERS_JOB = "containers";

const MiB = 1024 * 1024;

export function containerAlerts(t: Topology, m: MonitoringModel): AlertSpec[] {
  // Every WS-*-MEMORY rule warns at the same share (0.9); WS-APP-MEMORY's stands for them all.
  const share = warnShare(APP_MEMORY, t);
  const exporter = monitoringSlots(m, t).statsExporter.key;
  const labels = { job: CONTAINERS_JOB, instance: exporter, container: exporter, name: `${t.prefix}-${exporter}` };
  const sel = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
  const limit = EXPORTER_MEMORY_MIB * MiB;
  const over = Math.ceil(share * limit) + MiB;
  const under = Math.floor(share * limit);
  return [
    {
      group: m.id,
      component: t.stackPath,
      name: "ContainerNearMemoryLimit",
      // Working set (usage less inactive file cache, which the kernel reclaims before it OOM-kills),
      // against the limit the model sized: the exporter serves each container's memoryMiB beside it.
      expr: `container_memory_working_set_bytes{job="${CONTAINERS_JOB}"} > ${num(share)} * webstack_container_memory_model_limit_bytes{job="${CONTAINERS_JOB}"}`,
      forSeconds: 120,
      severity: "warning",
      summary: `${t.stackPath}: a container's working set is above ${num(share * 100)} % of its memory limit; at the limit the kernel kills its largest process`,
      threshold: `working set > ${num(share)} x the container's memoryMiB`,
      source: `WS-*-MEMORY: their warning share ${num(share)} x each container's memoryMiB, the model's limit (also the cgroup's), read from the stats exporter's targets file`,
      check: {
        series: [
          { series: `container_memory_working_set_bytes{${sel}}`, firing: `${over}x30`, quiet: `${under}x30` },
          { series: `webstack_container_memory_model_limit_bytes{${sel}}`, firing: `${limit}x30`, quiet: `${limit}x30` },
        ],
        labels,
      },
    },
    {
      group: m.id,
      component: t.stackPath,
      name: "ContainerMemoryUnread",
      expr: `webstack_container_cgroup_found{job="${CONTAINERS_JOB}"} == 0`,
      forSeconds: 300,
      severity: "warning",
      summary: `${t.stackPath}: the stats exporter finds no cgroup for a container: it is not running, or Monitoring's cgroupDriver is not the engine's`,
      threshold: "no cgroup for 5 min",
      source: `every container of the model, at the cgroup parent Monitoring's cgroupDriver (${m.settings.cgroupDriver}) gives it`,
      check: { series: [{ series: `webstack_container_cgroup_found{${sel}}`, firing: "0x30", quiet: "1x30" }], labels },
    },
  ];
}
