/**
 * The CERN/Invenio topology of the "Deployment and monitoring" talk: HAProxy routing /static,
 * /api/files and the app to web nodes of 8 uWSGI processes x 2 threads, Celery workers with one
 * beat, RabbitMQ, Redis, Elasticsearch, and PostgreSQL with 200 max connections and a replica,
 * monitored: Prometheus scrapes every daemon, with alerts from the budgets (half of the talk).
 * `buildInvenioSwarmStack` is the same site on a three-host Docker Swarm.
 */
import type { Construct } from "constructs";
import type { MonitoringProps, WebStackProps } from "../../lib";
import { Cache, Database, LoadBalancer, Monitoring, Queue, SearchCluster, WebStack, WebTier, WorkerTier } from "../../lib";

export const EXAMPLE_APP_IMAGE = "webstack-example-app:0.1";

export interface InvenioOptions {
  /** Web nodes of the UI/API tier. The talk's arithmetic: 200 / 40 per node = 5 at most, fewer once workers count. */
  readonly webNodes?: number;
  /** Props of its Monitoring (Alertmanager, say). @default Prometheus without Alertmanager */
  readonly monitoring?: MonitoringProps;
  /**
   * Where it runs. On a swarm target the stack has no Monitoring: the swarm target refuses it until
   * its exporters are built for a swarm. @default one Docker engine
   */
  readonly target?: WebStackProps["target"];
}

/**
 * Three hosts of 16 GiB and 8 CPUs, all managers (losing one keeps a Raft majority): the first one the
 * edge (HAProxy publishes there); the PostgreSQL primary and its standby, Redis, RabbitMQ and
 * Elasticsearch on the other two (data); the web and worker tiers spread over all three.
 */
export const INVENIO_SWARM_HOSTS = [
  { name: "node-1", memoryMiB: 16384, cpus: 8, roles: ["manager", "edge", "app"] },
  { name: "node-2", memoryMiB: 16384, cpus: 8, roles: ["manager", "data", "app"] },
  { name: "node-3", memoryMiB: 16384, cpus: 8, roles: ["manager", "data", "app"] },
] as const;

/** The same site on a three-host Docker Swarm (`INVENIO_SWARM_HOSTS`). */
export function buildInvenioSwarmStack(scope: Construct, id = "invenio-swarm"): WebStack {
  return buildInvenioStack(scope, id, { target: { kind: "swarm", hosts: INVENIO_SWARM_HOSTS.map((h) => ({ ...h, roles: [...h.roles] })) } });
}

export function buildInvenioStack(scope: Construct, id = "invenio", options: InvenioOptions = {}): WebStack {
  const stack = new WebStack(scope, id, options.target ? { target: options.target } : {});

  const db = new Database(stack, "db", { maxConnections: 200, replicas: 1, memoryMiB: 4096 });
  const cache = new Cache(stack, "cache", { engine: "redis", memoryMiB: 512 });
  const mq = new Queue(stack, "mq", { engine: "rabbitmq", memoryMiB: 1024 });
  const search = new SearchCluster(stack, "search", { engine: "elasticsearch", nodes: 1, memoryMiB: 2048 });

  const web = new WebTier(stack, "web", {
    nodes: options.webNodes ?? 2,
    server: "uwsgi",
    image: EXAMPLE_APP_IMAGE,
    wsgiModule: "webstack_example.wsgi:application",
    processes: 8,
    threads: 2,
    poolSize: 5,
    database: db,
    cache,
    queue: mq,
    search,
  });

  // Uploads get nodes of their own, so a slow 50 GB upload never holds a UI process.
  const files = new WebTier(stack, "files", {
    nodes: 2,
    server: "uwsgi",
    image: EXAMPLE_APP_IMAGE,
    wsgiModule: "webstack_example.wsgi:application",
    processes: 4,
    threads: 4,
    poolSize: 1,
    requestTimeoutSeconds: 600,
    uploadRoutes: [{ path: "/api/files", maxBodySize: "50g" }],
    database: db,
    cache,
  });

  new WorkerTier(stack, "worker", {
    image: EXAMPLE_APP_IMAGE,
    celeryApp: "webstack_example.tasks",
    nodes: 2,
    concurrency: 4,
    beat: true,
    database: db,
    cache,
    queue: mq,
    search,
  });

  new LoadBalancer(stack, "lb", {
    balance: "leastconn",
    defaultTarget: web,
    routes: [
      { name: "static", pathPrefix: "/static", target: web, serves: "static" },
      { name: "files", pathPrefix: "/api/files", target: files, maxBodySize: "50g" },
    ],
  });

  // Prometheus, an exporter per PostgreSQL server, Redis and nginx, and alerts whose thresholds are the budgets'.
  // Its cgroupDriver is the engine's: the default "systemd" is Debian 12's; an engine on "cgroupfs"
  // (`docker info --format '{{.CgroupDriver}}'`), as the e2e engine here, passes `monitoring: { cgroupDriver: "cgroupfs" }`.
  if (options.target?.kind !== "swarm") new Monitoring(stack, "monitoring", options.monitoring ?? {});

  return stack;
}
