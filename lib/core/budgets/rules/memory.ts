/** Memory rules: what each container's processes and buffers use against its memory limit. */
import {
  APP_MASTER_RSS_MIB,
  COMPRESSED_OOPS_LIMIT_MIB,
  HAPROXY_BASE_MIB,
  HAPROXY_KIB_PER_CONNECTION,
  databaseTuning,
  poolerRouterMaxconn,
  memcachedItemMemoryMiB,
  rabbitmqWatermarkMiB,
  redisMaxMemoryMiB,
  searchHeapMiB,
  webAppMemoryMiB,
  workerMemoryMiB,
} from "../../derive";
import { ETCD_BASE_RSS_MIB, ETCD_QUOTA_MIB, PATRONI_RSS_MIB } from "../../failover";
import { monitoringSlots } from "../../layout";
import { EXPORTER_MEMORY_MIB, PROMETHEUS_BASE_MIB, PROMETHEUS_MIB_PER_TARGET, monitoringTargetCount, prometheusMemoryEstimateMiB, prometheusMemoryMiB } from "../../monitoring";
import { componentsOf } from "../../topology";
import { measured, mib, type Rule } from "../rule";

export const DB_MEMORY: Rule = {
  id: "WS-DB-MEMORY",
  title: "PostgreSQL memory fits the container",
  severity: "error",
  warnAt: 0.9,
  rationale:
    "Shared memory (shared_buffers and wal_buffers), maintenance work, and the private memory of every backend (its overhead plus one work_mem) must fit the memory limit, or the kernel kills the postmaster's children. Backends are the connections and the parallel workers, which run parts of their queries.",
  measure: (t) =>
    componentsOf(t, "database").map((db) => {
      const s = db.settings;
      const tu = databaseTuning(s);
      const perBackend = tu.workMemMiB + s.backendOverheadMiB;
      const perBackendText = `(work_mem ${+tu.workMemMiB.toFixed(2)} MiB + backend ${s.backendOverheadMiB} MiB)`;
      const connections = s.maxConnections * perBackend;
      const workers = tu.maxParallelWorkers * perBackend;
      const patroni = s.failover ? PATRONI_RSS_MIB : 0;
      const used = Math.ceil(tu.sharedBuffersMiB + tu.walBuffersMiB + tu.maintenanceWorkMemMiB + connections + workers + patroni);
      return measured(db, "memory", {
        used,
        limit: s.memoryMiB,
        unit: "MiB",
        lines: [
          ...(s.failover ? [`Patroni ${mib(PATRONI_RSS_MIB)} +`] : []),
          `shared_buffers ${mib(tu.sharedBuffersMiB)} + wal_buffers ${mib(tu.walBuffersMiB)}`,
          `+ maintenance_work_mem ${mib(tu.maintenanceWorkMemMiB)}`,
          `+ max_connections ${s.maxConnections} x ${perBackendText} = ${mib(connections)}`,
          `+ max_parallel_workers ${tu.maxParallelWorkers} x ${perBackendText} = ${mib(workers)}`,
          `= ${mib(used)} against memoryMiB ${mib(s.memoryMiB)}`,
        ],
        fix: `raise memoryMiB of ${db.path}, or lower maxConnections (see WS-DB-CONNECTIONS), cpus or workMemMiB`,
      });
    }),
};

export const ETCD_MEMORY: Rule = {
  id: "WS-ETCD-MEMORY",
  title: "etcd fits its container",
  severity: "error",
  warnAt: 0.9,
  rationale: `With failover, each etcd member holds its process (about ${ETCD_BASE_RSS_MIB} MiB with headroom) and its memory-mapped backend, at most quota-backend-bytes (${ETCD_QUOTA_MIB} MiB).`,
  measure: (t) =>
    componentsOf(t, "database")
      .filter((db) => db.settings.failover)
      .map((db) => {
        const f = db.settings.failover!;
        const used = ETCD_BASE_RSS_MIB + ETCD_QUOTA_MIB;
        return measured(db, "etcd memory", {
          used,
          limit: f.etcdMemoryMiB,
          unit: "MiB",
          lines: [`etcd ${mib(ETCD_BASE_RSS_MIB)} + quota-backend-bytes ${mib(ETCD_QUOTA_MIB)} = ${mib(used)}`, `failover.etcdMemoryMiB = ${mib(f.etcdMemoryMiB)}`],
          fix: `raise failover.etcdMemoryMiB of ${db.path} to at least ${used}`,
        });
      }),
};

export const PG_ROUTER_MEMORY: Rule = {
  id: "WS-PG-ROUTER-MEMORY",
  title: "The pooler's router fits its container",
  severity: "error",
  warnAt: 0.9,
  rationale:
    `With failover and a pooler, PgBouncer's server connections pass through a TCP HAProxy (the router); its maxconn is derived from the pools (twice their sum, for sessions still closing after a failover). ` +
    `It holds its process (${HAPROXY_BASE_MIB} MiB) and, per connection, two buffers and session state (about ${HAPROXY_KIB_PER_CONNECTION} KiB).`,
  measure: (t) =>
    componentsOf(t, "database")
      .filter((db) => db.settings.failover && db.settings.pooler)
      .map((db) => {
        const p = db.settings.pooler!;
        const max = poolerRouterMaxconn(db.settings);
        const connections = (max.global * HAPROXY_KIB_PER_CONNECTION) / 1024;
        const used = Math.ceil(HAPROXY_BASE_MIB + connections);
        return measured(db, "pooler router memory", {
          used,
          limit: p.routerMemoryMiB,
          unit: "MiB",
          lines: [
            `maxconn ${max.global} = 2 x (writes ${max.write} + reads ${max.read}, PgBouncer's max_db_connections per database)`,
            `HAProxy ${mib(HAPROXY_BASE_MIB)} + ${max.global} x ${HAPROXY_KIB_PER_CONNECTION} KiB = ${mib(used)}`,
            `pooler.routerMemoryMiB = ${mib(p.routerMemoryMiB)}`,
          ],
          fix: `raise pooler.routerMemoryMiB of ${db.path} to at least ${used}, or lower pooler.defaultPoolSize / reservePoolSize`,
        });
      }),
};

export const LB_MEMORY: Rule = {
  id: "WS-LB-MEMORY",
  title: "HAProxy's connections fit its memory limit",
  severity: "error",
  warnAt: 0.9,
  rationale: `Each connection holds two buffers and session state, about ${HAPROXY_KIB_PER_CONNECTION} KiB.`,
  measure: (t) =>
    componentsOf(t, "loadBalancer").map((lb) => {
      const s = lb.settings;
      const used = Math.ceil(HAPROXY_BASE_MIB + (s.maxconn * HAPROXY_KIB_PER_CONNECTION) / 1024);
      return measured(lb, "memory", {
        used,
        limit: s.memoryMiB,
        unit: "MiB",
        lines: [`${HAPROXY_BASE_MIB} MiB base + maxconn ${s.maxconn} x ${HAPROXY_KIB_PER_CONNECTION} KiB = ${mib(used)}`, `memoryMiB = ${mib(s.memoryMiB)}`],
        fix: `raise memoryMiB of ${lb.path} or lower its maxconn`,
      });
    }),
};

export const APP_MEMORY: Rule = {
  id: "WS-APP-MEMORY",
  title: "App server processes fit the container",
  severity: "error",
  warnAt: 0.9,
  rationale: "Every worker process grows to its resident size; when the sum passes the limit the kernel kills one mid-request.",
  measure: (t) =>
    componentsOf(t, "webTier").map((w) => {
      const s = w.settings;
      const used = s.processes * s.processRssMiB + APP_MASTER_RSS_MIB;
      const limit = webAppMemoryMiB(s);
      return measured(w, "app container memory", {
        used,
        limit,
        unit: "MiB",
        lines: [
          `${s.processes} processes x ${s.processRssMiB} MiB${s.measured?.rssMiBPerProcess === s.processRssMiB ? " (measured)" : ""} + ${APP_MASTER_RSS_MIB} MiB master = ${mib(used)}`,
          `memoryMiB = ${mib(limit)}`,
        ],
        fix: `raise memoryMiB of ${w.path} to at least ${used}, or lower processes`,
      });
    }),
};

export const WORKER_MEMORY: Rule = {
  id: "WS-WORKER-MEMORY",
  title: "Celery children fit the worker container",
  severity: "error",
  warnAt: 0.9,
  rationale: "A prefork worker runs concurrency children beside its parent, each at its resident size.",
  measure: (t) =>
    componentsOf(t, "workerTier").map((w) => {
      const s = w.settings;
      const used = (s.concurrency + 1) * s.processRssMiB;
      const limit = workerMemoryMiB(s);
      return measured(w, "container memory (each worker)", {
        used,
        limit,
        unit: "MiB",
        lines: [`(${s.concurrency} children + 1 parent) x ${s.processRssMiB} MiB = ${mib(used)}`, `memoryMiB = ${mib(limit)}`],
        fix: `raise memoryMiB of ${w.path} to at least ${used}, or lower concurrency`,
      });
    }),
};

/** Beyond its data: a fixed base for the process, and a buffer per client connection. */
const overheadMiB = (baseMiB: number, connections: number, kibPerConnection: number) => Math.ceil(baseMiB + (connections * kibPerConnection) / 1024);

export const CACHE_MEMORY: Rule = {
  id: "WS-CACHE-MEMORY",
  title: "Cache and broker memory fit their containers",
  severity: "error",
  warnAt: 0.9,
  rationale: "Redis needs room beyond maxmemory for client buffers and fork copy-on-write; RabbitMQ's Erlang VM needs room beyond its watermark; memcached beyond its item memory.",
  measure: (t) => [
    ...componentsOf(t, "cache").map((c) => {
      const s = c.settings;
      const item = s.engine === "redis" ? redisMaxMemoryMiB(s.memoryMiB) : memcachedItemMemoryMiB(s);
      const overhead = overheadMiB(32, s.maxClients, 20);
      return measured(c, "memory", {
        used: item + overhead,
        limit: s.memoryMiB,
        unit: "MiB",
        lines: [`${s.engine === "redis" ? "maxmemory" : "item memory"} ${mib(item)} + 32 MiB base + ${s.maxClients} clients x 20 KiB = ${mib(item + overhead)}`, `memoryMiB = ${mib(s.memoryMiB)}`],
        fix: `raise memoryMiB of ${c.path} or lower maxClients`,
      });
    }),
    ...componentsOf(t, "queue").map((q) => {
      const s = q.settings;
      const redis = s.engine === "redis";
      const item = redis ? redisMaxMemoryMiB(s.memoryMiB) : rabbitmqWatermarkMiB(s);
      const base = redis ? 32 : 200;
      const perConnection = redis ? 20 : 100;
      const overhead = overheadMiB(base, s.maxConnections, perConnection);
      return measured(q, "memory", {
        used: item + overhead,
        limit: s.memoryMiB,
        unit: "MiB",
        lines: [
          `${redis ? "maxmemory" : "memory high watermark"} ${mib(item)} + ${base} MiB base + ${s.maxConnections} connections x ${perConnection} KiB = ${mib(item + overhead)}`,
          `memoryMiB = ${mib(s.memoryMiB)}`,
        ],
        fix: `raise memoryMiB of ${q.path} or lower maxConnections`,
      });
    }),
  ],
};

export const MONITORING_MEMORY: Rule = {
  id: "WS-MONITORING-MEMORY",
  title: "Prometheus' series fit its container",
  severity: "error",
  warnAt: 0.9,
  rationale: `Prometheus holds the last two hours of every series in memory: about ${PROMETHEUS_MIB_PER_TARGET} MiB per scrape target (some 1,000 series each) beside ${PROMETHEUS_BASE_MIB} MiB for itself. The exporters, the stats exporter and the blackbox prober run in ${EXPORTER_MEMORY_MIB} MiB each.`,
  measure: (t) =>
    componentsOf(t, "monitoring").map((m) => {
      const slots = monitoringSlots(m, t);
      const targets = monitoringTargetCount(t, slots.exporters.length, slots.alertmanager !== undefined, slots.probed.length);
      const used = prometheusMemoryEstimateMiB(targets);
      const limit = prometheusMemoryMiB(m, targets);
      return measured(m, "prometheus memory", {
        used,
        limit,
        unit: "MiB",
        lines: [`${PROMETHEUS_BASE_MIB} MiB base + ${targets} targets x ${PROMETHEUS_MIB_PER_TARGET} MiB = ${mib(used)}`, `memoryMiB = ${mib(limit)}`],
        fix: `raise memoryMiB of ${m.path} to at least ${used}, or leave it unset (it then follows the targets)`,
      });
    }),
};

export const SEARCH_HEAP: Rule = {
  id: "WS-SEARCH-HEAP",
  title: "Search heap is at most half the memory and below 32 GiB",
  severity: "error",
  warnAt: null,
  rationale: "Lucene needs the other half for the file-system cache, and above about 31 GiB the JVM loses compressed pointers.",
  measure: (t) =>
    componentsOf(t, "searchCluster").map((c) => {
      const heap = searchHeapMiB(c.settings);
      const limit = Math.min(Math.floor(c.settings.memoryMiB / 2), COMPRESSED_OOPS_LIMIT_MIB);
      return measured(c, "JVM heap", {
        used: heap,
        limit,
        unit: "MiB",
        lines: [`heap = ${mib(heap)}`, `limit = min(memoryMiB ${mib(c.settings.memoryMiB)} / 2, ${mib(COMPRESSED_OOPS_LIMIT_MIB)}) = ${mib(limit)}`],
        fix: `remove heapMiB of ${c.path} (it then follows memoryMiB), or raise memoryMiB to at least ${heap * 2}`,
      });
    }),
};
