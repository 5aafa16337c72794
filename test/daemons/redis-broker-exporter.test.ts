/**
 * A Redis broker's Celery queues on the real Debian 12 binaries: Redis started from its rendered files,
 * redis_exporter from its rendered command (the broker's password from the environment, the queues'
 * lists from `--check-single-keys`). Three tasks left on the list `celery` in the broker's db, as
 * Celery's Redis transport leaves them (LPUSH), read back as the series CeleryQueueGrowing reads.
 */
import { LoadBalancer, Monitoring, Queue, WebStack, WebTier, WorkerTier, Database } from "../../lib";
import { container, containersOf, fileIn, testWith } from "./harness";
import { withRedisAndExporter } from "./redis-exporter-pair";

const it = testWith(["redis-server", "redis-cli", "prometheus-redis-exporter", "unshare", "nsenter", "ip", "curl"]);
// js-yaml 3 comes with jest's coverage tooling; the rendered files are plain YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

function brokerSite() {
  return containersOf((scope) => {
    const stack = new WebStack(scope, "rb", { subnet: "10.94.0.0/16" });
    const db = new Database(stack, "db", { maxConnections: 60, replicas: 0, memoryMiB: 1024 });
    const mq = new Queue(stack, "mq", { engine: "redis" });
    const web = new WebTier(stack, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db, queue: mq });
    new WorkerTier(stack, "worker", { image: "webstack-example-app:0.1", celeryApp: "app.tasks", queues: ["celery", "mail"], database: db, queue: mq });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    new Monitoring(stack, "monitoring");
    return stack;
  });
}

it("redis_exporter reports each Celery queue's length in the broker's db; CeleryQueueGrowing reads that series", async () => {
  const cs = brokerSite();
  const mq = container(cs, "mq");
  const exporter = container(cs, "mq-exporter");
  expect(exporter.command).toContain("--check-single-keys=db0=celery,db0=mail");
  const alerts = yaml.safeLoad(fileIn(container(cs, "monitoring-prometheus"), "/etc/prometheus/alerts.yml"));
  const growing = alerts.groups.flatMap((g: any) => g.rules).filter((r: any) => r.alert === "CeleryQueueGrowing");
  expect(growing.map((r: any) => r.labels.queue)).toEqual(["celery", "mail"]);
  const series = /^(redis_key_size\{[^}]*\})/.exec(growing[0].expr)![1];
  expect(series).toBe('redis_key_size{job="redis",instance="mq",db="db0",key="celery"}');

  await withRedisAndExporter(mq, exporter, async (rd, metrics) => {
    const password = String(Object.entries(mq.env).find(([k]) => /PASSWORD/.test(k))![1]);
    const cli = (...args: string[]) => rd.exec(["redis-cli", "--no-auth-warning", "-a", password, "-n", "0", ...args]);
    // Celery's Redis transport publishes with LPUSH onto the list named after the queue.
    expect((await cli("LPUSH", "celery", "t1", "t2", "t3")).stdout.trim()).toBe("3");
    const text = await metrics();
    expect(text).toMatch(/^redis_key_size\{db="db0",key="celery"\} 3$/m);
    // An empty queue has no list in Redis: its length reads 0, not a missing series.
    expect(text).toMatch(/^redis_key_size\{db="db0",key="mail"\} 0$/m);
  });
}, 120_000);
