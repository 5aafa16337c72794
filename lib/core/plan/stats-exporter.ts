/**
 * The stats exporter of a monitored stack: one container for the whole stack (not one per node), a
 * Python script of ours (render/stats-exporter.ts) that reads uWSGI's stats server, memcached's
 * `stats` and PgBouncer's admin console when Prometheus probes it, as the blackbox prober reads a URL,
 * and every container's memory from the host's cgroup tree (cgroups.ts), mounted read-only: no Docker
 * socket.
 */
import { componentSlots, type MonitoringSlots, type ProbedSlot } from "../layout";
import { EXPORTER_MEMORY_MIB, STATS_EXPORTER_PORT } from "../monitoring";
import { MEMCACHED_PORT } from "../render/memcached";
import { PGBOUNCER_PORT } from "../render/pgbouncer";
import { PGBOUNCER_PROBE_MODULE, PGBOUNCER_STATS_USER, renderPgbouncerProbe } from "../render/pgbouncer-probe";
import type { ScrapeJob } from "../render/prometheus";
import { CONTAINERS_JOB } from "../alerts/containers";
import {
  CGROUP_ROOT,
  STATS_EXPORTER_DIR,
  STATS_EXPORTER_SCRIPT,
  STATS_EXPORTER_TARGETS,
  renderStatsExporterScript,
  renderStatsExporterTargets,
  type ConsoleLogin,
  type StatsModule,
} from "../render/stats-exporter";
import type { DatabaseModel, MonitoringModel } from "../topology";
import { checkCgroupNames, cgroupDirOf } from "./cgroups";
import { cmd, file, type PlanContext } from "./context";
import { pgbouncerStatsPassword, pgbouncerStatsPasswordEnv } from "./database-pooler";
import { UWSGI_STATS_PORT } from "./web-tier";

/** Read at call time: web-tier.ts imports the Monitoring planner, which imports this file. */
const portOf = (module: StatsModule) => (module === "uwsgi" ? UWSGI_STATS_PORT : module === "memcached" ? MEMCACHED_PORT : PGBOUNCER_PORT);

/** host:port of what a probed slot reads: the app container's stats server, or memcached. */
function probedAddress(ctx: PlanContext, p: ProbedSlot): string {
  const slot = componentSlots(p.target).find((s) => s.key === p.targetKey);
  if (!slot) throw new Error(`internal: the stats exporter reads ${p.targetKey}, which ${p.target.path} does not lay out`);
  return `${ctx.address(p.target, slot)}:${portOf(p.module)}`;
}

/**
 * The `uwsgi` and `memcached` jobs, and `pgbouncer` where a database has a pooler (each target's own
 * address, scraped through the exporter); and `containers`.
 */
export function statsExporterJobs(ctx: PlanContext, m: MonitoringModel, slots: MonitoringSlots): ScrapeJob[] {
  const self = `${ctx.address(m, slots.statsExporter)}:${STATS_EXPORTER_PORT}`;
  const containers: ScrapeJob = {
    name: CONTAINERS_JOB,
    metricsPath: "/containers",
    targets: [{ address: self, instance: slots.statsExporter.key, labels: { component: m.path } }],
  };
  return [...probedJobs(ctx, slots, self), containers];
}

function probedJobs(ctx: PlanContext, slots: MonitoringSlots, via: string): ScrapeJob[] {
  const modules: StatsModule[] = ["uwsgi", "memcached", ...(slots.probed.some((p) => p.module === "pgbouncer") ? ["pgbouncer" as const] : [])];
  return modules.map((module) => ({
    name: module,
    metricsPath: "/probe",
    params: { module: [module] },
    via,
    targets: slots.probed
      .filter((p) => p.module === module)
      .map((p) => ({ address: probedAddress(ctx, p), instance: p.targetKey, labels: { component: p.target.path } })),
  }));
}

export function planStatsExporter(ctx: PlanContext, m: MonitoringModel, slots: MonitoringSlots, user: string): void {
  const slot = slots.statsExporter;
  // Every container of the stack (the Monitoring planner runs last, and this one last in it) but the
  // one-shot release steps: they run to an end, and their cgroup goes with them.
  const prefix = ctx.topology.prefix;
  checkCgroupNames(m, prefix, [...ctx.containers.map((c) => c.key), slot.key]);
  const watched = ctx.containers.filter((c) => !c.oneShot);
  const keys = [...watched.map((c) => c.key), slot.key];
  const limits = new Map([...watched.map((c) => [c.key, c.memoryMiB] as const), [slot.key, EXPORTER_MEMORY_MIB]]);
  const cgroups = keys.map((key) => ({ key, name: `${prefix}-${key}`, dir: cgroupDirOf(m.settings.cgroupDriver, prefix, key), limitBytes: limits.get(key)! * 1024 * 1024 }));
  const allowed = (module: StatsModule) => slots.probed.filter((p) => p.module === module).map((p) => probedAddress(ctx, p));
  // Each PgBouncer's stats user: its password from a sensitive variable, in the environment only.
  const poolers = slots.probed.filter((p) => p.module === "pgbouncer").map((p) => ({ address: probedAddress(ctx, p), db: p.target as DatabaseModel }));
  const logins: Record<string, ConsoleLogin> = Object.fromEntries(poolers.map((p) => [p.address, { user: PGBOUNCER_STATS_USER, passwordEnv: pgbouncerStatsPasswordEnv(p.db) }]));
  const env = Object.fromEntries(poolers.map((p) => [pgbouncerStatsPasswordEnv(p.db), pgbouncerStatsPassword(ctx, p.db)]));
  ctx.container({
    key: slot.key,
    constructPath: m.path,
    role: "stats-exporter",
    image: m.settings.exporterImages.python,
    // -u: unbuffered, so a failed probe's line reaches `docker logs` at once.
    command: ["python3", "-u", STATS_EXPORTER_SCRIPT, `--port=${STATS_EXPORTER_PORT}`, `--targets=${STATS_EXPORTER_TARGETS}`],
    user,
    env,
    address: ctx.address(m, slot),
    listens: [{ port: STATS_EXPORTER_PORT, purpose: `stats exporter (containers' memory, uWSGI, memcached${poolers.length > 0 ? ", PgBouncer" : ""})` }],
    files: [
      file(STATS_EXPORTER_SCRIPT, renderStatsExporterScript()),
      file(STATS_EXPORTER_TARGETS, renderStatsExporterTargets({ uwsgi: allowed("uwsgi"), memcached: allowed("memcached"), pgbouncer: allowed("pgbouncer") }, logins, cgroups)),
      ...(poolers.length > 0 ? [file(`${STATS_EXPORTER_DIR}/${PGBOUNCER_PROBE_MODULE}.py`, renderPgbouncerProbe())] : []),
    ],
    // Read-only, and read as nobody: the cgroup files are root's, mode 0644.
    hostMounts: [{ hostPath: "/sys/fs/cgroup", path: CGROUP_ROOT }],
    memoryMiB: EXPORTER_MEMORY_MIB,
    // The image has python3 and nothing else to count on (no wget, no curl).
    healthcheck: cmd("python3", "-c", `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${STATS_EXPORTER_PORT}/-/healthy", timeout=4)`),
  });
}
