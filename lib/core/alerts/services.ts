/**
 * Alerts of the load balancer, the web nodes, Redis and RabbitMQ, and the site as a whole, each
 * threshold from the budget rule or the prop that sizes what it watches.
 */
import { CACHE_MEMORY } from "../budgets/rules/memory";
import { RABBITMQ_CONNECTIONS, REDIS_CLIENTS } from "../budgets/rules/clients";
import { redisMaxMemoryMiB } from "../derive";
import { REDIS_BROKER_DB } from "../render/redis";
import type { CacheModel, LoadBalancerModel, MonitoringModel, QueueModel, Topology } from "../topology";
import { celeryRabbitmqQueueAlerts, celeryRedisQueueAlerts } from "./celery";
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
  if (c.kind === "queue") alerts.push(...celeryRedisQueueAlerts(t, c, REDIS_BROKER_DB));
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
    ...celeryRabbitmqQueueAlerts(t, q),
  ];
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
