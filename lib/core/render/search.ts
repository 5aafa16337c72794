/**
 * elasticsearch.yml / opensearch.yml and the JVM heap options, for Elasticsearch 7.17 and
 * OpenSearch 2. Every node is master-eligible and holds data; the initial masters are all nodes.
 */

export const SEARCH_HTTP_PORT = 9200;
export const SEARCH_TRANSPORT_PORT = 9300;

export interface SearchNodeConfig {
  readonly engine: "elasticsearch" | "opensearch";
  readonly clusterName: string;
  readonly nodeName: string;
  readonly seedHosts: readonly string[];
  readonly initialMasters: readonly string[];
  readonly heapMiB: number;
}

export function searchConfigDir(engine: SearchNodeConfig["engine"]): string {
  return engine === "elasticsearch" ? "/usr/share/elasticsearch/config" : "/usr/share/opensearch/config";
}

export function renderSearchYml(c: SearchNodeConfig): string {
  const single = c.seedHosts.length <= 1;
  const lines = [
    `# Rendered by cdktf-webstack for ${c.engine === "elasticsearch" ? "Elasticsearch 7.17" : "OpenSearch 2"}. Edit the stack, not this file.`,
    `cluster.name: ${c.clusterName}`,
    `node.name: ${c.nodeName}`,
    "network.host: 0.0.0.0",
    `http.port: ${SEARCH_HTTP_PORT}`,
    `transport.port: ${SEARCH_TRANSPORT_PORT}`,
    ...(single
      ? ["discovery.type: single-node"]
      : [
          "discovery.seed_hosts:",
          ...c.seedHosts.map((h) => `  - ${h}`),
          `${c.engine === "elasticsearch" ? "cluster.initial_master_nodes" : "cluster.initial_cluster_manager_nodes"}:`,
          ...c.initialMasters.map((n) => `  - ${n}`),
        ]),
    "bootstrap.memory_lock: false",
    "# Reachable only on the stack's internal network; the load balancer publishes nothing of it.",
    ...(c.engine === "elasticsearch" ? ["xpack.security.enabled: false", "xpack.ml.enabled: false"] : ["plugins.security.disabled: true"]),
    "",
  ];
  return lines.join("\n");
}

/** `jvm.options.d/heap.options`: the heap fixed at a size, min equal to max. */
export function renderJvmHeapOptions(heapMiB: number): string {
  return [`# Rendered by cdktf-webstack: half the container's memory, below 32 GiB.`, `-Xms${heapMiB}m`, `-Xmx${heapMiB}m`, ""].join("\n");
}
