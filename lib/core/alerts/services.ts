/**
 * Alerts of the load balancer, the web nodes, Redis and RabbitMQ, and the site as a whole, each
 * threshold from the budget rule or the prop that sizes what it watches.
 */
import { CACHE_MEMORY } from "../budgets/rules/memory";
import { RABBITMQ_CONNECTIONS, REDIS_CLIENTS } from "../budgets/rules/clients";
import { redisMaxMemoryMiB } from "../derive";
import { componentsOf, type CacheModel, type LoadBalancerModel, type MonitoringModel, type QueueModel, type Topology } from "../topology";
import { gauge, num, warnShare, type AlertSpec } from "./spec";

export function loadBalancerAlerts(t: Topology, m: MonitoringModel, lb: LoadBalancerModel): AlertSpec[] {
  const s = lb.settings;
  const id = { job: "haproxy", instance: lb.id };
  const sel = `job="haproxy",instance="${lb.id}"`;
  const share = t.settings.warnAtFraction;
  const queueThreshold = share * s.maxqueue;
  const ratio = m.settings.errorRatio;
  return [
    {
      group: lb.id,
      component: lb.path,
      name: "BackendServerDown",
      expr: `haproxy_server_status{${sel},state="DOWN"} == 1`,
      forSeconds: 30,
      severity: "warning",
      summary: `${lb.path}: HAProxy marked a server DOWN (its health check or its traffic failed); the others serve its share`,
      threshold: "server state DOWN for 30 s",
      source: `HAProxy's own verdict: fall ${s.healthCheck.fall} x inter ${s.healthCheck.interMs} ms, or 10 connection errors in a row`,
      check: {
        series: [{ series: `haproxy_server_status{${sel},proxy="app",server="web-1",state="DOWN"}`, firing: "1x30", quiet: "0x30" }],
        labels: { ...id, proxy: "app", server: "web-1", state: "DOWN" },
      },
    },
    {
      group: lb.id,
      component: lb.path,
      name: "BackendNoServer",
      expr: `haproxy_backend_active_servers{${sel}} + haproxy_backend_backup_servers{${sel}} < 1`,
      forSeconds: 0,
      severity: "critical",
      summary: `${lb.path}: a backend has no server left; HAProxy answers its 503 page`,
      threshold: "0 active and 0 backup servers",
      source: "the backend's servers (the target tier's nodes, and the backup tier's)",
      check: {
        series: [
          { series: `haproxy_backend_active_servers{${sel},proxy="app"}`, firing: "0x30", quiet: "1x30" },
          { series: `haproxy_backend_backup_servers{${sel},proxy="app"}`, firing: "0x30", quiet: "0x30" },
        ],
        labels: { ...id, proxy: "app" },
      },
    },
    {
      group: lb.id,
      component: lb.path,
      name: "BackendQueueing",
      expr: `haproxy_backend_current_queue{${sel}} > 0`,
      forSeconds: 120,
      severity: "warning",
      summary: `${lb.path}: requests wait in HAProxy for a free server slot: the tier runs at its concurrency`,
      threshold: "> 0 queued requests for 2 min",
      source: "WS-LB-SERVER-MAXCONN: per-server maxconn = what a node serves at once (processes x threads); the excess waits in HAProxy's queue",
      check: { series: [gauge(`haproxy_backend_current_queue{${sel},proxy="app"}`, 0)], labels: { ...id, proxy: "app" } },
    },
    {
      group: lb.id,
      component: lb.path,
      name: "ServerQueueNearMaxqueue",
      expr: `haproxy_server_current_queue{${sel}} > ${num(queueThreshold)}`,
      forSeconds: 60,
      severity: "critical",
      summary: `${lb.path}: a server's queue nears maxqueue ${s.maxqueue}; past it requests go to other servers or fail`,
      threshold: `> ${num(queueThreshold)} queued requests on one server`,
      source: `LoadBalancer maxqueue ${s.maxqueue} x the stack's warnAtFraction ${num(share)}`,
      check: { series: [gauge(`haproxy_server_current_queue{${sel},proxy="app",server="web-1"}`, queueThreshold)], labels: { ...id, proxy: "app", server: "web-1" } },
    },
    {
      group: lb.id,
      component: lb.path,
      name: "HighErrorRate",
      expr:
        `sum by (instance, proxy) (rate(haproxy_backend_http_responses_total{${sel},code="5xx"}[5m]))` +
        ` / sum by (instance, proxy) (rate(haproxy_backend_http_responses_total{${sel}}[5m])) > ${num(ratio)}`,
      forSeconds: 120,
      severity: "warning",
      summary: `${lb.path}: more than ${num(ratio * 100)} % of a backend's responses are 5xx`,
      threshold: `> ${num(ratio * 100)} % 5xx over 5 min`,
      source: `Monitoring prop errorRatio (${num(ratio)})`,
      check: {
        series: [
          { series: `haproxy_backend_http_responses_total{${sel},proxy="app",code="5xx"}`, firing: `0+${Math.ceil((200 * ratio) / (1 - ratio))}x30`, quiet: `0+${Math.floor((50 * ratio) / (1 - ratio))}x30` },
          { series: `haproxy_backend_http_responses_total{${sel},proxy="app",code="2xx"}`, firing: "0+100x30", quiet: "0+100x30" },
        ],
        labels: { instance: lb.id, proxy: "app" },
      },
    },
    {
      group: lb.id,
      component: lb.path,
      name: "SiteDown",
      expr: `probe_success{job="blackbox",instance="${lb.id}"} == 0`,
      forSeconds: 60,
      severity: "critical",
      summary: `${lb.path}: GET ${s.healthCheck.path} through the load balancer fails (the blackbox probe)`,
      threshold: "probe failing for 1 min",
      source: `the load balancer's healthCheck.path (${s.healthCheck.path})`,
      check: { series: [{ series: `probe_success{job="blackbox",instance="${lb.id}"}`, firing: "0x30", quiet: "1x30" }], labels: { job: "blackbox", instance: lb.id } },
    },
  ];
}

export function redisAlerts(t: Topology, c: CacheModel | QueueModel): AlertSpec[] {
  const sel = `job="redis",instance="${c.id}"`;
  const id = { job: "redis", instance: c.id };
  const memoryShare = warnShare(CACHE_MEMORY, t);
  const maxMemoryBytes = redisMaxMemoryMiB(c.settings.memoryMiB) * 1024 * 1024;
  const memoryThreshold = Math.floor(memoryShare * maxMemoryBytes);
  const clients = REDIS_CLIENTS.measure(t).find((x) => x.constructPath === c.path)!;
  const clientShare = warnShare(REDIS_CLIENTS, t);
  const broker = c.kind === "queue";
  const alerts: AlertSpec[] = [
    {
      group: c.id,
      component: c.path,
      name: "RedisMemoryNearMax",
      expr: `redis_memory_used_bytes{${sel}} > ${memoryThreshold}`,
      forSeconds: 300,
      severity: broker ? "critical" : "warning",
      summary: `${c.path}: Redis memory near maxmemory (${broker ? "a broker does not evict: writes will be refused" : "it evicts keys from there"})`,
      threshold: `> ${memoryThreshold} bytes`,
      source: `WS-CACHE-MEMORY: warning share ${num(memoryShare)} x maxmemory ${redisMaxMemoryMiB(c.settings.memoryMiB)} MiB (three quarters of memoryMiB ${c.settings.memoryMiB})`,
      check: { series: [gauge(`redis_memory_used_bytes{${sel}}`, memoryThreshold)], labels: id },
    },
    {
      group: c.id,
      component: c.path,
      name: "RedisClientsHigh",
      expr: `redis_connected_clients{${sel}} > ${num(clientShare * clients.limit)}`,
      forSeconds: 300,
      severity: "warning",
      summary: `${c.path}: Redis clients above ${num(clientShare * 100)} % of maxclients ${clients.limit}`,
      threshold: `> ${num(clientShare * clients.limit)} clients`,
      source: `WS-REDIS-CLIENTS: warning share ${num(clientShare)} x maxclients ${clients.limit}; the model counts ${clients.used}`,
      check: { series: [gauge(`redis_connected_clients{${sel}}`, clientShare * clients.limit)], labels: id },
    },
  ];
  if (c.kind === "cache" && c.settings.evictionPolicy !== "noeviction") {
    alerts.push({
      group: c.id,
      component: c.path,
      name: "RedisEvicting",
      expr: `increase(redis_evicted_keys_total{${sel}}[5m]) > 0`,
      forSeconds: 0,
      severity: "warning",
      summary: `${c.path}: Redis evicts keys (${c.settings.evictionPolicy}): the cache is smaller than what the app keeps in it`,
      threshold: "any eviction in 5 min",
      source: `Cache evictionPolicy ${c.settings.evictionPolicy} at maxmemory ${redisMaxMemoryMiB(c.settings.memoryMiB)} MiB`,
      check: { series: [{ series: `redis_evicted_keys_total{${sel}}`, firing: "0+5x30", quiet: "0x30" }], labels: id },
    });
  }
  return alerts;
}

export function rabbitmqAlerts(t: Topology, q: QueueModel): AlertSpec[] {
  const measurement = RABBITMQ_CONNECTIONS.measure(t).find((x) => x.constructPath === q.path)!;
  const share = warnShare(RABBITMQ_CONNECTIONS, t);
  const threshold = share * measurement.limit;
  const id = { job: "rabbitmq", instance: q.id };
  return [
    {
      group: q.id,
      component: q.path,
      name: "RabbitmqConnectionsHigh",
      expr: `rabbitmq_connections{job="rabbitmq",instance="${q.id}"} > ${num(threshold)}`,
      forSeconds: 300,
      severity: "warning",
      summary: `${q.path}: broker connections above ${num(share * 100)} % of connection_max ${measurement.limit}`,
      threshold: `> ${num(threshold)} connections`,
      source: `WS-RABBITMQ-CONNECTIONS: warning share ${num(share)} x connection_max ${measurement.limit}; the model counts ${measurement.used}`,
      check: { series: [gauge(`rabbitmq_connections{job="rabbitmq",instance="${q.id}"}`, threshold)], labels: id },
    },
    ...celeryQueueAlerts(t, q),
  ];
}

/**
 * Per Celery queue: as many consumers as the model has workers consuming it, a backlog that does not
 * grow, and no more unacknowledged messages than its workers may hold (prefetched or running).
 */
function celeryQueueAlerts(t: Topology, q: QueueModel): AlertSpec[] {
  const sel = `job="rabbitmq-queues-${q.id}",instance="${q.id}",vhost="${q.settings.vhost}"`;
  const consumers = new Map<string, { workers: number; capacity: number; prefetch: number; tiers: string[]; prefetchTerms: string[] }>();
  for (const w of componentsOf(t, "workerTier").filter((x) => x.queue?.path === q.path)) {
    const s = w.settings;
    for (const name of s.queues) {
      const c = consumers.get(name) ?? { workers: 0, capacity: 0, prefetch: 0, tiers: [], prefetchTerms: [] };
      consumers.set(name, {
        workers: c.workers + s.nodes,
        capacity: c.capacity + s.nodes * s.concurrency,
        prefetch: c.prefetch + s.nodes * s.concurrency * s.prefetchMultiplier,
        tiers: [...c.tiers, `${w.path} (${s.nodes} workers)`],
        prefetchTerms: [...c.prefetchTerms, `${w.path}: ${s.nodes} workers x concurrency ${s.concurrency} x prefetchMultiplier ${s.prefetchMultiplier}`],
      });
    }
  }
  return [...consumers].flatMap(([queue, c]): AlertSpec[] => [
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryWorkerMissing",
      expr: `sum by (instance, queue) (rabbitmq_detailed_queue_consumers{${sel},queue="${queue}"}) < ${c.workers}`,
      forSeconds: 120,
      severity: "critical",
      summary: `${q.path}: fewer consumers on queue ${queue} than the ${c.workers} Celery workers that consume it`,
      threshold: `< ${c.workers} consumers on ${queue}`,
      source: `the model: ${c.tiers.join(", ")} consume ${queue}`,
      check: {
        series: [{ series: `rabbitmq_detailed_queue_consumers{${sel},queue="${queue}"}`, firing: `${c.workers - 1}x30`, quiet: `${c.workers}x30` }],
        labels: { instance: q.id, queue },
      },
    },
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryQueueGrowing",
      expr: `rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"} > 0 and deriv(rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"}[10m]) > 0`,
      forSeconds: 600,
      severity: "warning",
      summary: `${q.path}: tasks waiting on ${queue} keep growing for 10 min: its ${c.capacity} worker processes do not keep up`,
      threshold: "ready messages > 0 and growing for 10 min",
      source: `the consumers' capacity in the model: ${c.capacity} processes (workers x concurrency)`,
      check: {
        series: [{ series: `rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"}`, firing: "0+5x30", quiet: "3x30" }],
        labels: { job: `rabbitmq-queues-${q.id}`, instance: q.id, vhost: q.settings.vhost, queue },
      },
    },
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryUnackedHigh",
      // Celery acknowledges a task when it starts it (acks_late off): what is unacknowledged is prefetched, at most prefetch multiplier x concurrency per worker.
      expr: `rabbitmq_detailed_queue_messages_unacked{${sel},queue="${queue}"} > ${c.prefetch}`,
      forSeconds: 600,
      severity: "warning",
      summary: `${q.path}: more messages on ${queue} are unacknowledged for 10 min than its workers may prefetch (${c.prefetch}): tasks with an ETA or countdown held by the workers, or consumers that do not acknowledge`,
      threshold: `> ${c.prefetch} unacknowledged messages on ${queue} for 10 min`,
      source: `the model: ${c.prefetchTerms.join(" + ")}`,
      check: {
        series: [gauge(`rabbitmq_detailed_queue_messages_unacked{${sel},queue="${queue}"}`, c.prefetch)],
        labels: { job: `rabbitmq-queues-${q.id}`, instance: q.id, vhost: q.settings.vhost, queue },
      },
    },
  ]);
}

/** Alerts on every target whatever its kind. */
export function stackAlerts(t: Topology, m: MonitoringModel, nginxInstance: string | undefined): AlertSpec[] {
  const alerts: AlertSpec[] = [
    {
      group: m.id,
      component: t.stackPath,
      name: "TargetDown",
      expr: "up == 0",
      forSeconds: 120,
      severity: "warning",
      summary: `${t.stackPath}: Prometheus cannot scrape a target (a daemon's metrics endpoint or its exporter)`,
      threshold: "up == 0 for 2 min",
      source: "every target of the generated scrape configuration",
      check: { series: [{ series: `up{job="haproxy",instance="lb"}`, firing: "0x30", quiet: "1x30" }], labels: { job: "haproxy", instance: "lb" } },
    },
  ];
  if (nginxInstance) {
    alerts.push({
      group: m.id,
      component: t.stackPath,
      name: "NginxDown",
      expr: 'nginx_up{job="nginx"} == 0',
      forSeconds: 60,
      severity: "warning",
      summary: `${t.stackPath}: a web node's exporter cannot read its nginx's stub_status`,
      threshold: "nginx_up == 0 for 1 min",
      source: "every web node's nginx",
      check: { series: [{ series: `nginx_up{job="nginx",instance="${nginxInstance}"}`, firing: "0x30", quiet: "1x30" }], labels: { job: "nginx", instance: nginxInstance } },
    });
  }
  return alerts;
}
