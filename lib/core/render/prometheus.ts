/**
 * Prometheus 2.42's configuration, the blackbox prober's modules, postgres_exporter's queries and
 * Alertmanager's configuration. Every target comes from the model: the planner lists them, this file
 * only writes them down.
 */
import { toYaml } from "./yaml";

const HEADER = "Rendered by cdktf-webstack from the stack's model. Edit the stack, not this file.";

export const PROMETHEUS_DIR = "/etc/prometheus";
export const BLACKBOX_DIR = "/etc/blackbox_exporter";
export const POSTGRES_EXPORTER_QUERIES = "/etc/postgres_exporter/queries.yaml";
export const ALERTMANAGER_DIR = "/etc/alertmanager";

export interface ScrapeTarget {
  /** host:port on the stack network. */
  readonly address: string;
  /** The `instance` label: the container it describes (not the exporter's), e.g. "db-primary". */
  readonly instance: string;
  /** Further labels, e.g. the construct path. */
  readonly labels: Readonly<Record<string, string>>;
}

export interface ScrapeJob {
  readonly name: string;
  readonly metricsPath?: string;
  /** URL parameters of every scrape, e.g. RabbitMQ's `family` and `vhost`. @default none */
  readonly params?: Readonly<Record<string, readonly string[]>>;
  /**
   * A multi-target exporter's host:port (the stats exporter): each target's address travels as
   * `?target=` and the scrape goes to the exporter, as the blackbox job's does. @default none
   */
  readonly via?: string;
  readonly targets: readonly ScrapeTarget[];
}

/** The probed address travels as ?target=, and the request goes to the prober. */
const throughProber = (prober: string) => [
  { source_labels: ["__address__"], target_label: "__param_target" },
  { target_label: "__address__", replacement: prober },
];

export interface PrometheusConfig {
  readonly scrapeIntervalSeconds: number;
  readonly jobs: readonly ScrapeJob[];
  /** Blackbox probes: the prober's address, its module and what it probes, each with its instance label. */
  readonly probes?: { readonly prober: string; readonly module: string; readonly targets: readonly { readonly url: string; readonly instance: string }[] };
  readonly ruleFiles: readonly string[];
  /** Alertmanager's host:port. */
  readonly alertmanager?: string;
}

const staticConfigs = (targets: readonly ScrapeTarget[]) => targets.map((t) => ({ targets: [t.address], labels: { instance: t.instance, ...t.labels } }));

export function renderPrometheusConfig(c: PrometheusConfig): string {
  const interval = `${c.scrapeIntervalSeconds}s`;
  const jobs = c.jobs
    .filter((j) => j.targets.length > 0)
    .map((j) => ({
      job_name: j.name,
      ...(j.metricsPath ? { metrics_path: j.metricsPath } : {}),
      ...(j.params ? { params: j.params } : {}),
      static_configs: staticConfigs(j.targets),
      ...(j.via ? { relabel_configs: throughProber(j.via) } : {}),
    }));
  const probes = c.probes
    ? [
        {
          job_name: "blackbox",
          metrics_path: "/probe",
          params: { module: [c.probes.module] },
          static_configs: c.probes.targets.map((t) => ({ targets: [t.url], labels: { instance: t.instance } })),
          relabel_configs: throughProber(c.probes.prober),
        },
      ]
    : [];
  return toYaml(
    {
      global: { scrape_interval: interval, scrape_timeout: `${Math.min(10, c.scrapeIntervalSeconds)}s`, evaluation_interval: interval },
      rule_files: [...c.ruleFiles],
      ...(c.alertmanager ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [c.alertmanager] }] }] } } : {}),
      scrape_configs: [{ job_name: "prometheus", static_configs: [{ targets: ["127.0.0.1:9090"], labels: { instance: "prometheus" } }] }, ...jobs, ...probes],
    },
    HEADER,
  );
}

/** One module: GET the path through the load balancer, with the site's Host, 200 only. */
export function renderBlackboxConfig(module: string, host: string, insecureTls: boolean): string {
  return toYaml(
    {
      modules: {
        [module]: {
          prober: "http",
          timeout: "5s",
          http: {
            method: "GET",
            valid_status_codes: [200],
            follow_redirects: false,
            preferred_ip_protocol: "ip4",
            headers: { Host: host },
            // The probe reaches HAProxy by its internal address, which the certificate does not name.
            ...(insecureTls ? { tls_config: { insecure_skip_verify: true } } : {}),
          },
        },
      },
    },
    HEADER,
  );
}

/**
 * postgres_exporter's own queries: client connections per application_name (each tier connects under
 * its name), and, on the primary only (a standby reports no row), the standbys streaming from it
 * with their replay lag: the replication alerts then follow whichever member is primary, after a
 * failover (Patroni's or promote.sh) as before it.
 */
export function renderPostgresExporterQueries(): string {
  return toYaml(
    {
      webstack_connections: {
        query:
          "SELECT coalesce(nullif(application_name, ''), 'unnamed') AS application_name, count(*) AS count FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1",
        metrics: [
          { application_name: { usage: "LABEL", description: "The connecting tier (its application_name)" } },
          { count: { usage: "GAUGE", description: "Client connections of the tier" } },
        ],
      },
      webstack_replication: {
        query:
          "SELECT count(*) FILTER (WHERE state = 'streaming') AS streaming, coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 AS lag_seconds FROM pg_stat_replication HAVING NOT pg_is_in_recovery()",
        metrics: [
          { streaming: { usage: "GAUGE", description: "Standbys streaming from this server" } },
          { lag_seconds: { usage: "GAUGE", description: "Largest replay lag of a standby, seconds" } },
        ],
      },
    },
    HEADER,
  );
}

/** Alertmanager: every alert to one webhook; the URL is filled in at start from the environment. */
export function renderAlertmanagerConfig(urlPlaceholder: string): string {
  return toYaml(
    {
      route: { receiver: "webhook", group_by: ["alertname", "instance"], group_wait: "30s", group_interval: "5m", repeat_interval: "4h" },
      receivers: [{ name: "webhook", webhook_configs: [{ url: urlPlaceholder, send_resolved: true }] }],
    },
    HEADER,
  );
}

/** The webhook URL goes into a private copy of the configuration, never into the rendered file. */
export function renderAlertmanagerStart(placeholder: string, urlEnv: string, port: number): string {
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. Writes the webhook URL into a private copy of alertmanager.yml, then starts Alertmanager.",
    "set -eu",
    `: "\${${urlEnv}:?must be set}"`,
    "umask 077",
    "mkdir -p /alertmanager",
    "runtime=/alertmanager/alertmanager.yml",
    "# awk reads the URL from its environment as plain text: no character of it is syntax here.",
    `awk -v ph='${placeholder}' '{ i = index($0, ph); if (i) $0 = substr($0, 1, i - 1) ENVIRON["${urlEnv}"] substr($0, i + length(ph)); print }' ${ALERTMANAGER_DIR}/alertmanager.yml > "$runtime"`,
    `exec alertmanager --config.file="$runtime" --storage.path=/alertmanager --web.listen-address=:${port} --cluster.listen-address=`,
    "",
  ].join("\n");
}
