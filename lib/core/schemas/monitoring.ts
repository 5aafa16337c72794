/** Monitoring props: Prometheus, its exporters and alert rules, and an optional Alertmanager. */
import { z } from "zod";
import { positiveInt, memoryMiB, dockerImage, identifier } from "./common";

export const monitoringSchema = z
  .object({
    /** Seconds between two scrapes of every target. @default 15 */
    scrapeIntervalSeconds: positiveInt.max(300).default(15),
    /** Days of samples Prometheus keeps (`--storage.tsdb.retention.time`). @default 15 */
    retentionDays: positiveInt.max(3650).default(15),
    /**
     * Memory limit of the Prometheus container. @default its estimate (WS-MONITORING-MEMORY) x 1.25,
     * rounded up to 64 MiB
     */
    memoryMiB: memoryMiB.optional(),
    /**
     * Publish Prometheus' web UI on the host. @default none: Prometheus and every exporter listen on
     * the stack's internal network only
     */
    publish: z
      .object({
        /** Host port. */
        port: z.number().int().min(1).max(65535),
        /** Host address the port binds to. @default "127.0.0.1" */
        bindAddress: z.ipv4().default("127.0.0.1"),
      })
      .strict()
      .optional(),
    /** Replication lag above which ReplicaLagging fires, seconds. @default 30 */
    replicationLagSeconds: positiveInt.default(30),
    /** Share of a load balancer's responses that may be 5xx over 5 minutes before HighErrorRate fires. @default 0.05 */
    errorRatio: z.number().gt(0).lt(1).default(0.05),
    /**
     * Alertmanager, with one webhook receiver whose URL is the sensitive variable `webhookVariable`.
     * @default none (alerts show in Prometheus only)
     */
    alertmanager: z
      .object({
        /** Name of the sensitive Terraform variable holding the webhook URL. @default "<id>_webhook_url" */
        webhookVariable: identifier.optional(),
        /** Memory limit of the Alertmanager container. @default 128 */
        memoryMiB: memoryMiB.default(128),
        /** @default "prom/alertmanager:v0.25.0" */
        image: dockerImage.default("prom/alertmanager:v0.25.0"),
      })
      .strict()
      .optional(),
    /**
     * The Docker engine's cgroup driver (`docker info --format '{{.CgroupDriver}}'`). Each container of
     * a monitored stack gets a cgroup parent that carries its name, so the stats exporter can read its
     * memory from the host's cgroup tree: a slice `webstack-<stack>-<container>.slice` for systemd, a
     * path `/webstack/<stack>/<container>` for cgroupfs. dockerd refuses a parent of the other form.
     * @default "systemd": what dockerd picks on a cgroup v2 host running systemd (Debian 12's default);
     * a cgroup v1 host (the e2e engine here) gets "cgroupfs"
     */
    cgroupDriver: z.enum(["systemd", "cgroupfs"]).default("systemd"),
    /** @default "prom/prometheus:v2.42.0" */
    image: dockerImage.default("prom/prometheus:v2.42.0"),
    /** Images of the exporters, by exporter. @default the upstream images of Debian 12's versions */
    exporterImages: z
      .object({
        /** @default "prom/blackbox-exporter:v0.23.0" */
        blackbox: dockerImage.default("prom/blackbox-exporter:v0.23.0"),
        /** @default "quay.io/prometheuscommunity/postgres-exporter:v0.11.1" */
        postgres: dockerImage.default("quay.io/prometheuscommunity/postgres-exporter:v0.11.1"),
        /** @default "oliver006/redis_exporter:v1.45.0-alpine" */
        redis: dockerImage.default("oliver006/redis_exporter:v1.45.0-alpine"),
        /** @default "nginx/nginx-prometheus-exporter:0.11.0" */
        nginx: dockerImage.default("nginx/nginx-prometheus-exporter:0.11.0"),
        /** @default "quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0" */
        elasticsearch: dockerImage.default("quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0"),
        /**
         * A plain Python 3 image for the stats exporter (uWSGI's stats server, memcached): a script of
         * ours that needs only the standard library and `python3` on the PATH. @default "python:3.11-slim"
         */
        python: dockerImage.default("python:3.11-slim"),
      })
      .strict()
      .default({
        blackbox: "prom/blackbox-exporter:v0.23.0",
        postgres: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
        redis: "oliver006/redis_exporter:v1.45.0-alpine",
        nginx: "nginx/nginx-prometheus-exporter:0.11.0",
        elasticsearch: "quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0",
        python: "python:3.11-slim",
      }),
  })
  .strict();
