/**
 * Alerts of a search cluster, from what its elasticsearch_exporter reads of `/_cluster/health`
 * through the cluster's first node, each threshold from the cluster's model.
 */
import { componentSlots } from "../layout";
import type { SearchClusterModel } from "../topology";
import type { AlertSpec } from "./spec";

/** The scrape job of the search clusters' exporters; each target's instance is the cluster's id. */
export const ELASTICSEARCH_JOB = "elasticsearch";

/**
 * How long a multi-node cluster may stay yellow: a node that leaves has its replicas reallocated
 * only after `index.unassigned.node_left.delayed_timeout` (1 min by default), then copied over,
 * which takes minutes for large shards; a restart of one node makes it yellow that long.
 */
export const SEARCH_YELLOW_SECONDS = 600;

export function searchAlerts(c: SearchClusterModel): AlertSpec[] {
  const s = c.settings;
  const sel = `job="${ELASTICSEARCH_JOB}",instance="${c.id}"`;
  const id = { job: ELASTICSEARCH_JOB, instance: c.id };
  // The exporter labels each health series with the cluster's name, as the cluster answers it.
  const cluster = s.clusterName ?? c.id;
  const first = componentSlots(c)[0].key;
  const status = (color: string) => `elasticsearch_cluster_health_status{${sel},cluster="${cluster}",color="${color}"}`;
  const alerts: AlertSpec[] = [
    {
      group: c.id,
      component: c.path,
      name: "SearchClusterUnreachable",
      expr: `elasticsearch_cluster_health_up{${sel}} == 0`,
      forSeconds: 60,
      severity: "critical",
      summary: `${c.path}: the exporter gets no cluster health from ${first}: the node is down, or the cluster has no elected master`,
      threshold: "elasticsearch_cluster_health_up == 0 for 1 min",
      source: `the exporter reads ${first}, the cluster's first node; a cluster without a master answers 503, which reads as 0 too`,
      check: { series: [{ series: `elasticsearch_cluster_health_up{${sel}}`, firing: "0x30", quiet: "1x30" }], labels: id },
    },
    {
      group: c.id,
      component: c.path,
      name: "SearchClusterRed",
      expr: `elasticsearch_cluster_health_status{${sel},color="red"} == 1`,
      forSeconds: 60,
      severity: "critical",
      summary: `${c.path}: cluster health red: a primary shard is unassigned, so part of the data cannot be searched or written`,
      threshold: "status red for 1 min",
      source: "Elasticsearch's own verdict; an index is red for a moment while it is created, hence the minute",
      check: {
        series: [
          { series: status("red"), firing: "1x30", quiet: "0x30" },
          { series: status("green"), firing: "0x30", quiet: "1x30" },
        ],
        labels: { ...id, cluster, color: "red" },
      },
    },
  ];
  // One node: Elasticsearch never puts a replica on its primary's node, and an index has one replica
  // unless the app asks otherwise, so a single node holding any such index stays yellow for good, and
  // the node answering counts itself: neither alert could tell anything there.
  if (s.nodes > 1) {
    alerts.push(
      {
        group: c.id,
        component: c.path,
        name: "SearchClusterYellow",
        expr: `elasticsearch_cluster_health_status{${sel},color="yellow"} == 1`,
        forSeconds: SEARCH_YELLOW_SECONDS,
        severity: "warning",
        summary: `${c.path}: cluster health yellow for ${SEARCH_YELLOW_SECONDS / 60} min: a replica shard is unassigned, one more node lost may lose data`,
        threshold: `status yellow for ${SEARCH_YELLOW_SECONDS / 60} min`,
        source: `the model's ${s.nodes} nodes hold every replica; reallocation after a node leaves waits 1 min (delayed_timeout), then copies`,
        check: {
          series: [
            { series: status("yellow"), firing: "1x30", quiet: "0x30" },
            { series: status("green"), firing: "0x30", quiet: "1x30" },
          ],
          labels: { ...id, cluster, color: "yellow" },
        },
      },
      {
        group: c.id,
        component: c.path,
        name: "SearchNodesMissing",
        expr: `elasticsearch_cluster_health_number_of_nodes{${sel}} < ${s.nodes}`,
        forSeconds: 120,
        severity: "warning",
        summary: `${c.path}: fewer nodes in the cluster than the model's ${s.nodes}`,
        threshold: `< ${s.nodes} nodes for 2 min`,
        source: `SearchCluster nodes ${s.nodes}`,
        check: {
          series: [{ series: `elasticsearch_cluster_health_number_of_nodes{${sel},cluster="${cluster}"}`, firing: `${s.nodes - 1}x30`, quiet: `${s.nodes}x30` }],
          labels: { ...id, cluster },
        },
      },
    );
  }
  return alerts;
}
