/**
 * The Monitoring component: Prometheus scraping every target of the stack, the blackbox prober,
 * an exporter per PostgreSQL server, Redis and nginx, one per search cluster, the stats exporter (uWSGI, memcached, PgBouncer; see
 * stats-exporter.ts), and Alertmanager when asked for. Every target,
 * threshold and address follows the model; nothing is listed by hand.
 */
import { generateAlerts } from "../alerts";
import { celeryConsumers } from "../alerts/celery";
import { ELASTICSEARCH_JOB } from "../alerts/search";
import { monitoringSlots, workerSlots, type ExporterSlot } from "../layout";
import {
  ALERTMANAGER_PORT,
  BLACKBOX_PORT,
  ELASTICSEARCH_EXPORTER_PORT,
  EXPORTER_MEMORY_MIB,
  EXPORTER_ROLE,
  NGINX_EXPORTER_PORT,
  NGINX_STUB_STATUS_PORT,
  POSTGRES_EXPORTER_PORT,
  PROMETHEUS_PORT,
  REDIS_EXPORTER_PORT,
  elasticsearchExporterTimeoutSeconds,
  monitoringOf,
  monitoringTargetCount,
  prometheusMemoryMiB,
} from "../monitoring";
import { renderAlertRules, renderAlertTests } from "../render/alert-rules";
import {
  ALERTMANAGER_DIR,
  BLACKBOX_DIR,
  POSTGRES_EXPORTER_QUERIES,
  PROMETHEUS_DIR,
  renderAlertmanagerConfig,
  renderAlertmanagerStart,
  renderBlackboxConfig,
  renderPostgresExporterQueries,
  renderPrometheusConfig,
  type ScrapeJob,
} from "../render/prometheus";
import { PG_PORT } from "../render/postgres";
import { FLOWER_PORT } from "../render/celery";
import { RABBITMQ_PROMETHEUS_PORT } from "../render/rabbitmq";
import { REDIS_BROKER_DB, REDIS_PORT } from "../render/redis";
import { SEARCH_HTTP_PORT } from "../render/search";
import { componentsOf, type DatabaseModel, type MonitoringModel, type QueueModel } from "../topology";
import { ENV, redisPassword } from "./clients";
import { cmd, file, snake, type PlanContext, type Planner } from "./context";
import { planStatsExporter, statsExporterJobs } from "./stats-exporter";

export const EXPORTER_PASSWORD_ENV = "WEBSTACK_EXPORTER_PASSWORD";
const WEBHOOK_URL_ENV = "WEBSTACK_WEBHOOK_URL";
const WEBHOOK_PLACEHOLDER = "WEBSTACK_WEBHOOK_URL_AT_START";
const PROBE_MODULE = "http_ping";
/**
 * nobody, by number: the exporter images built FROM scratch (nginx-prometheus-exporter) have no
 * /etc/passwd to look a name up in, and the others' nobody is 65534 too.
 */
const NOBODY = "65534:65534";

/** The address of the exporter that reads the container `targetKey`, in a monitored stack. */
export function exporterAddress(ctx: PlanContext, targetKey: string): string | undefined {
  const m = monitoringOf(ctx.topology);
  const slot = m && monitoringSlots(m, ctx.topology).exporters.find((e) => e.targetKey === targetKey);
  return m && slot ? ctx.address(m, slot) : undefined;
}

export function exporterDatabasePassword(ctx: PlanContext, db: DatabaseModel): string {
  return ctx.secret(`${snake(db.id)}_exporter_password`, `password of the '${EXPORTER_ROLE}' role (metrics) of ${db.path}`);
}

/** Health check of the busybox-based Prometheus images: their own page answers. */
const wgetCheck = (port: number, path: string) => cmd("wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${port}${path}`);


/** `--check-single-keys` for a Redis broker: each Celery queue consumed from it (none for a cache). */
function celeryQueueKeys(ctx: PlanContext, target: ExporterSlot["target"]): string[] {
  if (target.kind !== "queue") return [];
  const queues = [...celeryConsumers(ctx.topology, target as QueueModel).keys()];
  return queues.length > 0 ? [`--check-single-keys=${queues.map((q) => `db${REDIS_BROKER_DB}=${q}`).join(",")}`] : [];
}
function exporterContainer(ctx: PlanContext, m: MonitoringModel, e: ExporterSlot) {
  const images = m.settings.exporterImages;
  const base = { key: e.key, constructPath: m.path, address: ctx.address(m, e), user: NOBODY, files: [], memoryMiB: EXPORTER_MEMORY_MIB, dependsOn: [e.targetKey] };
  const serverAddress = addressOfContainer(ctx, e);
  switch (e.exporter) {
    case "postgres": {
      const db = e.target as DatabaseModel;
      return ctx.container({
        ...base,
        role: "postgres-exporter",
        image: images.postgres,
        command: ["postgres_exporter", `--web.listen-address=:${POSTGRES_EXPORTER_PORT}`, `--extend.query-path=${POSTGRES_EXPORTER_QUERIES}`],
        env: {
          DATA_SOURCE_URI: `${serverAddress}:${PG_PORT}/${db.settings.databaseName}?sslmode=disable&application_name=${EXPORTER_ROLE}`,
          DATA_SOURCE_USER: EXPORTER_ROLE,
          DATA_SOURCE_PASS: exporterDatabasePassword(ctx, db),
        },
        listens: [{ port: POSTGRES_EXPORTER_PORT, purpose: "postgres_exporter" }],
        files: [file(POSTGRES_EXPORTER_QUERIES, renderPostgresExporterQueries())],
        healthcheck: wgetCheck(POSTGRES_EXPORTER_PORT, "/"),
      });
    }
    case "redis":
      return ctx.container({
        ...base,
        role: "redis-exporter",
        image: images.redis,
        // A broker's Celery queues are lists in its broker db: their lengths, for CeleryQueueGrowing.
        command: ["redis_exporter", `--web.listen-address=:${REDIS_EXPORTER_PORT}`, ...celeryQueueKeys(ctx, e.target)],
        env: { REDIS_ADDR: `redis://${serverAddress}:${REDIS_PORT}`, [ENV.redisPassword]: redisPassword(ctx, e.target as never) },
        listens: [{ port: REDIS_EXPORTER_PORT, purpose: "redis_exporter" }],
        healthcheck: wgetCheck(REDIS_EXPORTER_PORT, "/"),
      });
    case "nginx":
      return ctx.container({
        ...base,
        role: "nginx-exporter",
        image: images.nginx,
        command: ["nginx-prometheus-exporter", `-nginx.scrape-uri=http://${serverAddress}:${NGINX_STUB_STATUS_PORT}/stub_status`, `-web.listen-address=:${NGINX_EXPORTER_PORT}`],
        env: {},
        listens: [{ port: NGINX_EXPORTER_PORT, purpose: "nginx-prometheus-exporter" }],
        healthcheck: wgetCheck(NGINX_EXPORTER_PORT, "/"),
      });
    case "elasticsearch":
      // The cluster's health (status, nodes, shards) through its first node, and that node's stats
      // (`--es.node` _local; not `--es.all`, whose series grow with the nodes past the per-target
      // estimate of WS-MONITORING-MEMORY). The cluster runs without security (render/search.ts): no
      // credential to pass. Until its first call to the node succeeds, or for 10 s, it does not listen.
      return ctx.container({
        ...base,
        role: "elasticsearch-exporter",
        image: images.elasticsearch,
        command: [
          "elasticsearch_exporter",
          `--es.uri=http://${serverAddress}:${SEARCH_HTTP_PORT}`,
          `--es.timeout=${elasticsearchExporterTimeoutSeconds(m)}s`,
          `--web.listen-address=:${ELASTICSEARCH_EXPORTER_PORT}`,
        ],
        env: {},
        listens: [{ port: ELASTICSEARCH_EXPORTER_PORT, purpose: "elasticsearch_exporter" }],
        healthcheck: { ...wgetCheck(ELASTICSEARCH_EXPORTER_PORT, "/"), startPeriodSeconds: 20 },
      });
  }
}

/** The address of the container an exporter reads (planned before the Monitoring component). */
function addressOfContainer(ctx: PlanContext, e: ExporterSlot): string {
  const c = ctx.containers.find((x) => x.key === e.targetKey);
  if (!c) throw new Error(`internal: ${e.key} reads ${e.targetKey}, which is not planned`);
  return c.address;
}

export const monitoringPlanner: Planner<"monitoring"> = {
  kind: "monitoring",
  plan(ctx: PlanContext, m: MonitoringModel): void {
    const t = ctx.topology;
    const s = m.settings;
    const slots = monitoringSlots(m, t);

    const exporterJob = (name: string, kind: ExporterSlot["exporter"], port: number): ScrapeJob => ({
      name,
      targets: slots.exporters
        .filter((e) => e.exporter === kind)
        .map((e) => ({ address: `${ctx.address(m, e)}:${port}`, instance: e.targetKey, labels: { component: e.target.path } })),
    });
    const lbs = componentsOf(t, "loadBalancer");
    const rabbits = componentsOf(t, "queue").filter((q) => q.settings.engine === "rabbitmq");
    const jobs: ScrapeJob[] = [
      { name: "haproxy", metricsPath: "/metrics", targets: lbs.map((lb) => ({ address: `${ctx.address(lb, 0)}:${lb.settings.statsPort}`, instance: lb.id, labels: { component: lb.path } })) },
      exporterJob("nginx", "nginx", NGINX_EXPORTER_PORT),
      exporterJob("postgres", "postgres", POSTGRES_EXPORTER_PORT),
      exporterJob("redis", "redis", REDIS_EXPORTER_PORT),
      // One target per search cluster, named after the cluster: its health is the whole cluster's.
      {
        name: ELASTICSEARCH_JOB,
        targets: slots.exporters
          .filter((e) => e.exporter === "elasticsearch")
          .map((e) => ({ address: `${ctx.address(m, e)}:${ELASTICSEARCH_EXPORTER_PORT}`, instance: e.target.id, labels: { component: e.target.path } })),
      },
      {
        name: "rabbitmq",
        targets: rabbits.map((q) => ({ address: `${ctx.address(q, 0)}:${RABBITMQ_PROMETHEUS_PORT}`, instance: q.id, labels: { component: q.path } })),
      },
      // Per queue (off in the plugin's aggregated endpoint): depth, unacknowledged, consumers, of the app's vhost.
      ...rabbits.map((q) => ({
        name: `rabbitmq-queues-${q.id}`,
        metricsPath: "/metrics/detailed",
        params: { vhost: [q.settings.vhost], family: ["queue_coarse_metrics", "queue_consumer_count"] },
        targets: [{ address: `${ctx.address(q, 0)}:${RABBITMQ_PROMETHEUS_PORT}`, instance: q.id, labels: { component: q.path } }],
      })),
      // Flower serves Prometheus' format at /metrics of its own port (workers online, tasks by state); no exporter.
      {
        name: "flower",
        metricsPath: "/metrics",
        targets: componentsOf(t, "workerTier").flatMap((w) => {
          const f = workerSlots(w).flower;
          return f ? [{ address: `${ctx.address(w, f)}:${FLOWER_PORT}`, instance: f.key, labels: { component: w.path } }] : [];
        }),
      },
      // uWSGI's stats server and memcached, through the stats exporter.
      ...statsExporterJobs(ctx, m, slots),
      ...(slots.alertmanager ? [{ name: "alertmanager", targets: [{ address: `${ctx.address(m, slots.alertmanager)}:${ALERTMANAGER_PORT}`, instance: slots.alertmanager.key, labels: { component: m.path } }] }] : []),
    ];
    // The uptime check: GET the health path through each load balancer, as a visitor would.
    const probeTargets = lbs.map((lb) => {
      const https = lb.settings.https;
      const url = https && https.redirectHttp ? `https://${ctx.address(lb, 0)}:443${lb.settings.healthCheck.path}` : `http://${ctx.address(lb, 0)}:80${lb.settings.healthCheck.path}`;
      return { url, instance: lb.id };
    });
    const blackboxAddress = ctx.address(m, slots.blackbox);
    const alerts = generateAlerts(t);
    const targets = monitoringTargetCount(t, slots.exporters.length, slots.alertmanager !== undefined, slots.probed.length);
    const scraped = jobs.reduce((n, j) => n + j.targets.length, 0) + probeTargets.length + 1;
    if (scraped !== targets) throw new Error(`internal: ${scraped} scrape targets, but WS-MONITORING-MEMORY counts ${targets}`);
    const prometheusFiles = [
      file(
        `${PROMETHEUS_DIR}/prometheus.yml`,
        renderPrometheusConfig({
          scrapeIntervalSeconds: s.scrapeIntervalSeconds,
          jobs,
          probes: probeTargets.length > 0 ? { prober: `${blackboxAddress}:${BLACKBOX_PORT}`, module: PROBE_MODULE, targets: probeTargets } : undefined,
          ruleFiles: [`${PROMETHEUS_DIR}/alerts.yml`],
          alertmanager: slots.alertmanager ? `${ctx.address(m, slots.alertmanager)}:${ALERTMANAGER_PORT}` : undefined,
        }),
      ),
      file(`${PROMETHEUS_DIR}/alerts.yml`, renderAlertRules(alerts)),
      // `promtool test rules /etc/prometheus/alerts.test.yml` proves every alert on synthetic series.
      file(`${PROMETHEUS_DIR}/alerts.test.yml`, renderAlertTests(alerts, "alerts.yml")),
    ];
    ctx.container({
      key: slots.prometheus.key,
      constructPath: m.path,
      role: "prometheus",
      image: s.image,
      command: [
        "prometheus",
        `--config.file=${PROMETHEUS_DIR}/prometheus.yml`,
        "--storage.tsdb.path=/prometheus",
        `--storage.tsdb.retention.time=${s.retentionDays}d`,
        `--web.listen-address=:${PROMETHEUS_PORT}`,
      ],
      user: NOBODY,
      env: {},
      address: ctx.address(m, slots.prometheus),
      listens: [{ port: PROMETHEUS_PORT, purpose: s.publish ? "prometheus (published)" : "prometheus (internal)" }],
      publishes: s.publish ? [{ containerPort: PROMETHEUS_PORT, hostPort: s.publish.port, hostIp: s.publish.bindAddress }] : [],
      files: prometheusFiles,
      mounts: [ctx.volume(m, `${slots.prometheus.key}-data`, "/prometheus")],
      memoryMiB: prometheusMemoryMiB(m, targets),
      healthcheck: { ...wgetCheck(PROMETHEUS_PORT, "/-/ready"), startPeriodSeconds: 30 },
    });
    const siteHost = lbs[0]?.settings.siteHost ?? lbs[0]?.settings.healthCheck.host ?? "localhost";
    ctx.container({
      key: slots.blackbox.key,
      constructPath: m.path,
      role: "blackbox-exporter",
      image: s.exporterImages.blackbox,
      command: ["blackbox_exporter", `--config.file=${BLACKBOX_DIR}/config.yml`, `--web.listen-address=:${BLACKBOX_PORT}`],
      user: NOBODY,
      env: {},
      address: blackboxAddress,
      listens: [{ port: BLACKBOX_PORT, purpose: "blackbox_exporter" }],
      files: [file(`${BLACKBOX_DIR}/config.yml`, renderBlackboxConfig(PROBE_MODULE, siteHost, lbs.some((lb) => lb.settings.https?.redirectHttp)))],
      memoryMiB: EXPORTER_MEMORY_MIB,
      healthcheck: wgetCheck(BLACKBOX_PORT, "/-/healthy"),
    });
    if (slots.alertmanager && s.alertmanager) {
      const variable = s.alertmanager.webhookVariable ?? `${snake(m.id)}_webhook_url`;
      const url = ctx.urlSecret(variable, `webhook URL Alertmanager of ${m.path} sends every alert to (http or https)`);
      ctx.container({
        key: slots.alertmanager.key,
        constructPath: m.path,
        role: "alertmanager",
        image: s.alertmanager.image,
        command: ["/bin/sh", `${ALERTMANAGER_DIR}/start.sh`],
        user: NOBODY,
        env: { [WEBHOOK_URL_ENV]: url },
        address: ctx.address(m, slots.alertmanager),
        listens: [{ port: ALERTMANAGER_PORT, purpose: "alertmanager (internal)" }],
        files: [
          file(`${ALERTMANAGER_DIR}/alertmanager.yml`, renderAlertmanagerConfig(WEBHOOK_PLACEHOLDER)),
          file(`${ALERTMANAGER_DIR}/start.sh`, renderAlertmanagerStart(WEBHOOK_PLACEHOLDER, WEBHOOK_URL_ENV, ALERTMANAGER_PORT), true),
        ],
        mounts: [ctx.volume(m, `${slots.alertmanager.key}-data`, "/alertmanager")],
        memoryMiB: s.alertmanager.memoryMiB,
        healthcheck: wgetCheck(ALERTMANAGER_PORT, "/-/healthy"),
      });
    }
    for (const e of slots.exporters) exporterContainer(ctx, m, e);
    planStatsExporter(ctx, m, slots, NOBODY);
  },
};
