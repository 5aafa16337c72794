/**
 * A search cluster in a monitored stack: one elasticsearch_exporter per cluster, its scrape job and
 * its alerts from the model; none of them without Monitoring or without a SearchCluster. (The daemon
 * suite runs Debian's exporter against the e2e stub, test/daemons/search-exporter.test.ts.)
 */
import { Database, LoadBalancer, Monitoring, SearchCluster, WebTier, type WebStack } from "../lib";
import { monitoringSlots } from "../lib/core/layout";
import { monitoringOf } from "../lib/core/monitoring";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

function site(o: { search?: { nodes?: number; clusterName?: string }[]; monitoring?: object } = {}): WebStack {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 0 });
  const searches = (o.search ?? []).map((p, i) => new SearchCluster(stack, i === 0 ? "search" : `search${i + 1}`, p));
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, database: db, ...(searches[0] ? { search: searches[0] } : {}) });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  if (o.monitoring) new Monitoring(stack, "monitoring", o.monitoring);
  return stack;
}
const prometheusFile = (stack: WebStack, name: string) => yaml.safeLoad(fileOf(stack, "monitoring-prometheus", `/etc/prometheus/${name}`));
const job = (stack: WebStack) => prometheusFile(stack, "prometheus.yml").scrape_configs.find((j: any) => j.job_name === "elasticsearch");
const searchRules = (stack: WebStack) => prometheusFile(stack, "alerts.yml").groups.filter((g: any) => g.name.startsWith("search")).flatMap((g: any) => g.rules);
const exporters = (stack: WebStack) => stack.cluster().plan.containers.filter((c) => c.role === "elasticsearch-exporter");

describe("a search cluster in a monitored stack", () => {
  test("one exporter per cluster, reading its first node, internal only, as nobody, in the exporters' 64 MiB, with no credential", () => {
    const stack = site({ search: [{ nodes: 3 }, {}], monitoring: {} });
    const plan = stack.cluster().plan;
    const at = (key: string) => plan.containers.find((c) => c.key === key)!.address;
    const ex = exporters(stack);
    expect(ex.map((c) => [c.key, c.image, c.user, c.memoryMiB, c.publishes, c.dependsOn, c.env])).toEqual([
      ["search-exporter", "quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0", "65534:65534", 64, [], ["search-1"], {}],
      ["search2-exporter", "quay.io/prometheuscommunity/elasticsearch-exporter:v1.5.0", "65534:65534", 64, [], ["search2-1"], {}],
    ]);
    expect(ex[0].command).toEqual(["elasticsearch_exporter", `--es.uri=http://${at("search-1")}:9200`, "--es.timeout=5s", "--web.listen-address=:9114"]);
    expect(ex[0].listens).toEqual([{ port: 9114, purpose: "elasticsearch_exporter" }]);
    expect(ex[0].healthcheck!.test.join(" ")).toContain("http://127.0.0.1:9114/");
    // At the end of the Monitoring block, below the stats exporter: the other exporters keep their places in it.
    const indexes = (st: WebStack) => {
      const t = st.cluster().topology;
      return Object.fromEntries(monitoringSlots(monitoringOf(t)!, t).exporters.map((e) => [e.key, e.index]));
    };
    expect(indexes(stack)).toEqual({ ...indexes(site({ monitoring: {} })), "search-exporter": 243, "search2-exporter": 242 });
    // A shorter scrape interval shortens the exporter's request timeout below Prometheus' scrape timeout.
    expect(exporters(site({ search: [{}], monitoring: { scrapeIntervalSeconds: 4 } }))[0].command).toContain("--es.timeout=3s");
    const own = site({ search: [{}], monitoring: { exporterImages: { elasticsearch: "registry.example/es-exporter:1.5" } } });
    expect(exporters(own)[0].image).toBe("registry.example/es-exporter:1.5");
  });

  test("its scrape job: one target per cluster, named after the cluster, counted in Prometheus' memory", () => {
    const stack = site({ search: [{ nodes: 3 }], monitoring: {} });
    const plan = stack.cluster().plan;
    expect(job(stack)).toEqual({
      job_name: "elasticsearch",
      static_configs: [{ targets: [`${plan.containers.find((c) => c.key === "search-exporter")!.address}:9114`], labels: { instance: "search", component: "test/search" } }],
    });
    const memory = (s: WebStack) => s.cluster().findings.find((f) => f.ruleId === "WS-MONITORING-MEMORY")!;
    expect(memory(stack).used - memory(site({ monitoring: {} })).used).toBe(4);
  });

  test("one node: unreachable and red only (a single node with replicas stays yellow, and counts itself)", () => {
    const rules = searchRules(site({ search: [{}], monitoring: {} }));
    expect(rules.map((r: any) => [r.alert, r.expr, r.for, r.labels.severity])).toEqual([
      ["SearchClusterUnreachable", 'elasticsearch_cluster_health_up{job="elasticsearch",instance="search"} == 0', "1m", "critical"],
      ["SearchClusterRed", 'elasticsearch_cluster_health_status{job="elasticsearch",instance="search",color="red"} == 1', "1m", "critical"],
    ]);
  });

  test("three nodes: also yellow for 10 min and fewer nodes than the model's", () => {
    const stack = site({ search: [{ nodes: 3, clusterName: "catalog" }], monitoring: {} });
    const rules = searchRules(stack);
    expect(rules.map((r: any) => [r.alert, r.expr, r.for, r.labels.severity])).toEqual([
      ["SearchClusterUnreachable", 'elasticsearch_cluster_health_up{job="elasticsearch",instance="search"} == 0', "1m", "critical"],
      ["SearchClusterRed", 'elasticsearch_cluster_health_status{job="elasticsearch",instance="search",color="red"} == 1', "1m", "critical"],
      ["SearchClusterYellow", 'elasticsearch_cluster_health_status{job="elasticsearch",instance="search",color="yellow"} == 1', "10m", "warning"],
      ["SearchNodesMissing", 'elasticsearch_cluster_health_number_of_nodes{job="elasticsearch",instance="search"} < 3', "2m", "warning"],
    ]);
    // promtool's series carry the cluster's name as the exporter labels them.
    const tests = prometheusFile(stack, "alerts.test.yml").tests.filter((t: any) => t.alert_rule_test[0].alertname === "SearchNodesMissing");
    expect(tests.map((t: any) => t.input_series)).toEqual([
      [{ series: 'elasticsearch_cluster_health_number_of_nodes{job="elasticsearch",instance="search",cluster="catalog"}', values: "2x30" }],
      [{ series: 'elasticsearch_cluster_health_number_of_nodes{job="elasticsearch",instance="search",cluster="catalog"}', values: "3x30" }],
    ]);
  });

  test("no Monitoring: no exporter; Monitoring without a SearchCluster: no exporter, no job, no search alert", () => {
    expect(site({ search: [{ nodes: 2 }] }).cluster().plan.containers.filter((c) => /exporter/.test(c.role))).toEqual([]);
    const bare = site({ monitoring: {} });
    expect(exporters(bare)).toEqual([]);
    expect(job(bare)).toBeUndefined();
    expect(fileOf(bare, "monitoring-prometheus", "/etc/prometheus/alerts.yml")).not.toMatch(/elasticsearch|Search/);
  });
});
