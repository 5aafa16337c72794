/**
 * The search cluster's exporter: Debian 12's prometheus-elasticsearch-exporter 1.5.0 run with the
 * rendered command (as nobody, at the model's address of the first node), against the e2e suite's
 * Elasticsearch STUB (test/e2e/images/elasticsearch-stub/stub-server.py, a python3 http.server that
 * answers `/` and `/_cluster/health` only) in one sandbox. Not Elasticsearch: what is proven is the
 * exporter's reading of a health answer and the rendered rules' reading of the exporter; its node
 * stats (404 from the stub) and index collectors are not exercised. With the cluster unreachable the
 * exporter listens only after its 10 s initial call times out, within the health check's start
 * period; then green, yellow and red answers, each scrape fed to `promtool test rules` with the
 * rendered alerts.yml, fire exactly the alerts the model expects; the rendered alerts.test.yml of the
 * three-node model passes. Figures as `FIGURE <name>: <value>`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Database, LoadBalancer, Monitoring, SearchCluster, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf, fileIn, sleep, testWith, type Container } from "./harness";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

const it = testWith(["/usr/bin/prometheus-elasticsearch-exporter", "/usr/bin/python3", "promtool", "curl", "unshare", "nsenter"]);
const NODES = 3;
const STUB = path.join(__dirname, "../e2e/images/elasticsearch-stub/stub-server.py");
const PROM = "/etc/prometheus";
const figure = (name: string, value: string) => process.stdout.write(`FIGURE ${name}: ${value}\n`);
const samples = (text: string) => new Map(text.split("\n").filter((l) => l.startsWith("elasticsearch_")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));

function stack(): Container[] {
  return containersOf((scope) => {
    const s = new WebStack(scope, "esx", { subnet: "127.0.0.0/16" });
    const db = new Database(s, "db", { replicas: 0 });
    const search = new SearchCluster(s, "search", { nodes: NODES });
    const web = new WebTier(s, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db, search });
    new LoadBalancer(s, "lb", { defaultTarget: web });
    new Monitoring(s, "monitoring");
    return s;
  });
}

describe("Debian's elasticsearch_exporter 1.5.0 on the rendered command, against the Elasticsearch stub", () => {
  it("listens within its health check's start period with the cluster unreachable; green, yellow, red and unreachable fire exactly the model's alerts", async () => {
    const cs = stack();
    const ex = container(cs, "search-exporter");
    const node = container(cs, "search-1");
    const prometheus = container(cs, "monitoring-prometheus");
    const alertsYml = fileIn(prometheus, `${PROM}/alerts.yml`);
    const rules = yaml.safeLoad(alertsYml).groups.find((g: any) => g.name === "search").rules as any[];
    expect(rules.map((r) => r.alert)).toEqual(["SearchClusterUnreachable", "SearchClusterRed", "SearchClusterYellow", "SearchNodesMissing"]);
    expect(ex.command[1]).toBe(`--es.uri=http://${node.address}:9200`);
    const box = new Sandbox("es-exporter", {
      files: [...prometheus.files, { path: "/opt/stub/stub-server.py", content: fs.readFileSync(STUB, "utf8"), executable: false }],
      setup: "ln -sf /usr/bin/prometheus-elasticsearch-exporter /usr/local/bin/elasticsearch_exporter",
    });
    const metrics = async () => {
      const r = await box.exec(["curl", "-s", "--max-time", "8", "http://127.0.0.1:9114/metrics"]);
      return r.code === 0 ? r.stdout : undefined;
    };
    /** The scrape as Prometheus would store it (job and instance from the scrape job), fed to the rendered rules. */
    const promtool = async (text: string, firing: Record<string, Record<string, string>>) => {
      const series = text.split("\n").filter((l) => /^elasticsearch_cluster_health_/.test(l)).map((l) => {
        const [, name, labels, value] = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(l)!;
        return { series: `${name}{job="elasticsearch",instance="search"${labels ? `,${labels}` : ""}}`, values: `${value}x30` };
      });
      const tests = [{
        interval: "1m",
        input_series: series,
        alert_rule_test: rules.map((r) => ({
          eval_time: "20m",
          alertname: r.alert,
          exp_alerts: firing[r.alert] ? [{ exp_labels: { ...firing[r.alert], ...r.labels }, exp_annotations: r.annotations }] : [],
        })),
      }];
      const write = await box.exec(["sh", "-c", `cat > ${PROM}/es.test.yml`], { input: JSON.stringify({ rule_files: ["alerts.yml"], evaluation_interval: "1m", tests }) });
      expect(write.code).toBe(0);
      const run = await box.sh(`cd ${PROM} && promtool test rules es.test.yml`);
      expect({ code: run.code, out: run.stdout + run.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
    };
    const id = { job: "elasticsearch", instance: "search" };
    try {
      const t0 = Date.now();
      await box.start({ user: "nobody", argv: ex.command, env: ex.env });
      // The rendered unit tests of every alert of the three-node model, the search ones among them, pass.
      const rendered = await box.sh(`cd ${PROM} && promtool test rules alerts.test.yml`);
      expect({ code: rendered.code, out: rendered.stdout + rendered.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
      // No cluster yet: the exporter waits for its first call to the node, 10 s, before it listens.
      let text: string | undefined;
      while (!(text = await metrics()) && Date.now() - t0 < 30_000) await sleep(250);
      const listenS = (Date.now() - t0) / 1000;
      figure("es_exporter_listen_unreachable_s", listenS.toFixed(1));
      expect(text).toBeDefined();
      expect(listenS).toBeLessThan((ex.healthcheck as { startPeriodSeconds: number }).startPeriodSeconds);
      let m = samples(text!);
      expect(m.get("elasticsearch_cluster_health_up")).toBe(0);
      expect([...m.keys()].filter((k) => k.startsWith("elasticsearch_cluster_health_status"))).toEqual([]);
      await promtool(text!, { SearchClusterUnreachable: id });

      const health = (h: object) => box.exec(["sh", "-c", "cat > /tmp/health.json.new && mv /tmp/health.json.new /tmp/health.json"], { input: JSON.stringify({ cluster_name: "search", ...h }) });
      await health({ status: "green", number_of_nodes: NODES });
      const started = Date.now();
      const stub = await box.sh(`STUB_BIND=${node.address} STUB_PORT=9200 STUB_HEALTH_FILE=/tmp/health.json nohup /usr/bin/python3 /opt/stub/stub-server.py >/tmp/stub.log 2>&1 & echo $! > /tmp/stub.pid`);
      expect(stub.code).toBe(0);
      while (Date.now() - started < 15_000 && samples((text = await metrics()) ?? "").get("elasticsearch_cluster_health_up") !== 1) await sleep(200);
      figure("es_exporter_first_health_after_stub_start_s", ((Date.now() - started) / 1000).toFixed(1));
      expect(samples(text!).get("elasticsearch_cluster_health_up")).toBe(1);
      const rss = await box.sh("grep VmRSS /proc/$(pgrep -f elasticsearch_exporter | head -1)/status | awk '{print $2}'");
      const rssMiB = Number(rss.stdout.trim()) / 1024;
      figure("es_exporter_rss_mib", rssMiB.toFixed(1));
      expect(rssMiB).toBeGreaterThan(0);
      expect(rssMiB).toBeLessThan(ex.memoryMiB as number);

      const cases: { status: string; nodes: number; firing: string[] }[] = [
        { status: "green", nodes: NODES, firing: [] },
        { status: "yellow", nodes: NODES - 1, firing: ["SearchClusterYellow", "SearchNodesMissing"] },
        { status: "red", nodes: NODES, firing: ["SearchClusterRed"] },
      ];
      for (const c of cases) {
        await health({ status: c.status, number_of_nodes: c.nodes });
        text = (await metrics())!;
        m = samples(text);
        // The cluster label is the one the exporter's cluster-info call found; it retries every 5 min.
        const cluster = /elasticsearch_cluster_health_status\{cluster="([^"]*)"/.exec(text)?.[1];
        process.stdout.write(`${c.status}: cluster label ${cluster}, node stats up ${m.get("elasticsearch_node_stats_up")}\n`);
        const colors = Object.fromEntries(["green", "yellow", "red"].map((k) => [k, m.get(`elasticsearch_cluster_health_status{cluster="${cluster}",color="${k}"}`)]));
        expect({ up: m.get("elasticsearch_cluster_health_up"), colors, nodes: m.get(`elasticsearch_cluster_health_number_of_nodes{cluster="${cluster}"}`) }).toEqual({
          up: 1,
          colors: { green: Number(c.status === "green"), yellow: Number(c.status === "yellow"), red: Number(c.status === "red") },
          nodes: c.nodes,
        });
        // The stub answers no node stats: that collector is not exercised here.
        expect(m.get("elasticsearch_node_stats_up")).toBe(0);
        const labels: Record<string, Record<string, string>> = {
          SearchClusterRed: { ...id, cluster: cluster!, color: "red" },
          SearchClusterYellow: { ...id, cluster: cluster!, color: "yellow" },
          SearchNodesMissing: { ...id, cluster: cluster! },
        };
        await promtool(text, Object.fromEntries(c.firing.map((a) => [a, labels[a]])));
      }

      // The node gone: health_up 0 at the next scrape, the exporter still serving.
      expect((await box.sh("kill $(cat /tmp/stub.pid)")).code).toBe(0);
      await sleep(500);
      text = (await metrics())!;
      expect(samples(text).get("elasticsearch_cluster_health_up")).toBe(0);
      await promtool(text, { SearchClusterUnreachable: id });
    } catch (e) {
      process.stdout.write(`--- exporter log ---\n${box.log()}\n`);
      throw e;
    } finally {
      await box.stop();
    }
  }, 120_000);
});
