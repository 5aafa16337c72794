/**
 * The budget rules. Each rule is one definition: its id, title, severity and the check that
 * measures it. The synth-time check, the capacity report and the docs all read this list.
 */
import { applicationDatabaseClients, brokerClients, databaseClients, cacheClients, sumClients, type ClientLine } from "../clients";
import {
  BASE_BACKUP_WAL_SENDERS,
  COMPRESSED_OOPS_LIMIT_MIB,
  APP_MASTER_RSS_MIB,
  HAPROXY_BASE_MIB,
  HAPROXY_EXTRA_FDS,
  NGINX_WORKER_PROCESSES,
  STREAMING_THRESHOLD_BYTES,
  haproxyServerTimeoutMs,
  nginxReadTimeoutSeconds,
  HAPROXY_KIB_PER_CONNECTION,
  databaseTuning,
  memcachedItemMemoryMiB,
  nodeConcurrency,
  primaryStandbySettings,
  rabbitmqWatermarkMiB,
  redisMaxMemoryMiB,
  replicaStandbySettings,
  searchHeapMiB,
  webAppMemoryMiB,
  workerMemoryMiB,
} from "../derive";
import type { ClusterPlan } from "../model";
import { componentBlocks, HOSTS_PER_BLOCK } from "../network";
import { routeMaxconn } from "../plan";
import { componentAt, componentsOf, type Topology, type WebTierModel } from "../topology";
import { formatMiB, parseSize } from "../units";

/** One measured budget: `used` must not exceed `limit`. */
export interface Measurement {
  readonly constructPath: string;
  /** What was measured, e.g. "db-primary max_connections". */
  readonly subject: string;
  readonly used: number;
  readonly limit: number;
  readonly unit: string;
  /** The arithmetic, one step per line. */
  readonly lines: readonly string[];
  /** What to change when it does not fit. */
  readonly fix: string;
}

export interface Rule {
  readonly id: string;
  readonly title: string;
  readonly severity: "error" | "warning";
  /** Why the rule exists, for the docs. */
  readonly rationale: string;
  /**
   * Share of the limit above which a passing measurement is a warning. `null` for rules whose
   * derived value equals its limit by design (a standby's settings, a derived maxconn).
   * @default the stack's warnAtFraction (0.8)
   */
  readonly warnAt?: number | null;
  measure(topology: Topology, plan: ClusterPlan): Measurement[];
}

const clientLines = (lines: readonly ClientLine[]) => lines.map((l) => `${l.source}: ${l.formula} = ${l.count}`);

/** A measurement of clients against a server's connection limit: the common shape of the client rules. */
function clientBudget(
  component: { path: string; id: string },
  limitName: string,
  clients: readonly ClientLine[],
  limit: number,
  fixField: string,
): Measurement {
  const used = sumClients(clients);
  return {
    constructPath: component.path,
    subject: `${component.id} ${limitName}`,
    used,
    limit,
    unit: "connections",
    lines: [...clientLines(clients), `total = ${used}`, `${limitName} = ${limit}`],
    fix: `raise ${fixField} of ${component.path} to at least ${used}`,
  };
}
const mib = (n: number) => formatMiB(n);

export const RULES: readonly Rule[] = [
  {
    id: "WS-DB-CONNECTIONS",
    title: "Database clients fit max_connections minus the superuser reserve",
    severity: "error",
    rationale:
      'Every process that opens a pool counts at its full size; past the limit PostgreSQL answers "sorry, too many clients already". ' +
      "WAL senders are not counted here: since PostgreSQL 12 they have their own slots (see WS-DB-WAL-SENDERS).",
    measure: (t) =>
      componentsOf(t, "database").map((db) => {
        const s = db.settings;
        const clients = databaseClients(t, db);
        const used = sumClients(clients);
        const limit = s.maxConnections - s.superuserReservedConnections;
        return {
          constructPath: db.path,
          subject: `${db.id} client connections`,
          used,
          limit,
          unit: "connections",
          lines: [
            ...clientLines(clients),
            `total clients = ${used}`,
            `usable = max_connections ${s.maxConnections} - superuser_reserved_connections ${s.superuserReservedConnections} = ${limit}`,
          ],
          fix: `lower nodes, processes or poolSize of the tiers above, or raise maxConnections of ${db.path} to at least ${used + s.superuserReservedConnections} (and its memoryMiB, see WS-DB-MEMORY), or put a pooler in front`,
        };
      }),
  },
  {
    id: "WS-POOLER-CLIENTS",
    title: "Clients of a PgBouncer fit its max_client_conn",
    severity: "error",
    rationale:
      "Behind a pooler the app and worker pools connect to PgBouncer, which refuses clients beyond max_client_conn; only its own pools (WS-DB-CONNECTIONS) reach PostgreSQL.",
    measure: (t) =>
      componentsOf(t, "database")
        .filter((db) => db.settings.pooler)
        .map((db) => clientBudget(db, "pgbouncer max_client_conn", applicationDatabaseClients(t, db), db.settings.pooler!.maxClientConn, "pooler.maxClientConn")),
  },
  {
    id: "WS-DB-WAL-SENDERS",
    title: "Replicas plus one base backup fit max_wal_senders",
    severity: "error",
    rationale: `Each streaming replica holds one WAL sender, and rebuilding a replica with pg_basebackup -X stream holds ${BASE_BACKUP_WAL_SENDERS} more.`,
    measure: (t) =>
      componentsOf(t, "database").map((db) => {
        const tuning = databaseTuning(db.settings);
        const used = db.settings.replicas + BASE_BACKUP_WAL_SENDERS;
        return {
          constructPath: db.path,
          subject: `${db.id} max_wal_senders`,
          used,
          limit: tuning.maxWalSenders,
          unit: "WAL senders",
          lines: [`${db.settings.replicas} replicas + ${BASE_BACKUP_WAL_SENDERS} for one pg_basebackup -X stream = ${used}`, `max_wal_senders = ${tuning.maxWalSenders}`],
          fix: `raise maxWalSenders of ${db.path} to at least ${used}`,
        };
      }),
  },
  {
    id: "WS-DB-REPLICATION-SLOTS",
    title: "One replication slot per replica fits max_replication_slots",
    severity: "error",
    rationale: "Each replica streams from its own physical slot, created by the init script; a missing slot makes the replica's bootstrap fail.",
    measure: (t) =>
      componentsOf(t, "database").map((db) => {
        const tuning = databaseTuning(db.settings);
        return {
          constructPath: db.path,
          subject: `${db.id} max_replication_slots`,
          used: db.settings.replicas,
          limit: tuning.maxReplicationSlots,
          unit: "slots",
          lines: [`${db.settings.replicas} replicas x 1 slot = ${db.settings.replicas}`, `max_replication_slots = ${tuning.maxReplicationSlots}`],
          fix: `raise maxReplicationSlots of ${db.path} to at least ${db.settings.replicas}`,
        };
      }),
  },
  {
    id: "WS-DB-SYNCHRONOUS-REPLICAS",
    title: "Synchronous replicas are at most the replicas there are",
    severity: "error",
    warnAt: null,
    rationale:
      "With synchronous_standby_names asking for more confirmations than there are standbys, every commit on the primary waits forever.",
    measure: (t) =>
      componentsOf(t, "database")
        .filter((db) => db.settings.synchronousReplicas > 0)
        .map((db) => ({
          constructPath: db.path,
          subject: `${db.id} synchronous replicas`,
          used: db.settings.synchronousReplicas,
          limit: db.settings.replicas,
          unit: "replicas",
          lines: [`synchronousReplicas = ${db.settings.synchronousReplicas}`, `replicas = ${db.settings.replicas}`],
          fix: `lower synchronousReplicas of ${db.path} to at most ${db.settings.replicas}, or add replicas`,
        })),
  },
  {
    id: "WS-DB-STANDBY-SETTINGS",
    title: "Hot standby settings are at least the primary's",
    severity: "error",
    warnAt: null,
    rationale:
      "A hot standby refuses to start when max_connections, max_worker_processes, max_wal_senders, max_prepared_transactions or max_locks_per_transaction is lower than on its primary.",
    measure: (t) =>
      componentsOf(t, "database")
        .filter((db) => db.settings.replicas > 0)
        .flatMap((db) => {
          const primary = primaryStandbySettings(db.settings);
          const replica = replicaStandbySettings(db.settings);
          return (Object.keys(primary) as (keyof typeof primary)[]).map((name) => ({
            constructPath: db.path,
            subject: `${db.id} replicas ${name}`,
            used: primary[name],
            limit: replica[name],
            unit: name,
            lines: [`primary ${name} = ${primary[name]}`, `replica ${name} = ${replica[name]}`],
            fix: `remove standbyOverrides.${name} of ${db.path}, or set it to at least ${primary[name]}`,
          }));
        }),
  },
  {
    id: "WS-DB-MEMORY",
    title: "PostgreSQL memory fits the container",
    severity: "error",
    warnAt: 0.9,
    rationale: "shared_buffers, maintenance work and every backend's private memory (its overhead plus one work_mem) must fit the memory limit, or the kernel kills the postmaster's children.",
    measure: (t) =>
      componentsOf(t, "database").map((db) => {
        const s = db.settings;
        const tu = databaseTuning(s);
        const perBackend = tu.workMemMiB + s.backendOverheadMiB;
        const used = Math.ceil(tu.sharedBuffersMiB + tu.maintenanceWorkMemMiB + s.maxConnections * perBackend);
        return {
          constructPath: db.path,
          subject: `${db.id} memory`,
          used,
          limit: s.memoryMiB,
          unit: "MiB",
          lines: [
            `shared_buffers ${mib(tu.sharedBuffersMiB)}`,
            `+ maintenance_work_mem ${mib(tu.maintenanceWorkMemMiB)}`,
            `+ max_connections ${s.maxConnections} x (work_mem ${tu.workMemMiB} MiB + backend ${s.backendOverheadMiB} MiB) = ${mib(s.maxConnections * perBackend)}`,
            `= ${mib(used)} against memoryMiB ${mib(s.memoryMiB)}`,
          ],
          fix: `raise memoryMiB of ${db.path}, or lower maxConnections (see WS-DB-CONNECTIONS) or workMemMiB`,
        };
      }),
  },
  {
    id: "WS-REDIS-CLIENTS",
    title: "Redis clients fit maxclients",
    severity: "error",
    rationale: 'Past maxclients Redis closes new connections with "max number of clients reached".',
    measure: (t) => [
      ...componentsOf(t, "cache")
        .filter((c) => c.settings.engine === "redis")
        .map((c) => clientBudget(c, "maxclients", cacheClients(t, c), c.settings.maxClients, "maxClients")),
      ...componentsOf(t, "queue")
        .filter((q) => q.settings.engine === "redis")
        .map((q) => clientBudget(q, "maxclients", brokerClients(t, q), q.settings.maxConnections, "maxConnections")),
    ],
  },
  {
    id: "WS-MEMCACHED-CONNECTIONS",
    title: "memcached clients fit its connection limit",
    severity: "error",
    rationale: "memcached refuses connections beyond -c.",
    measure: (t) =>
      componentsOf(t, "cache")
        .filter((c) => c.settings.engine === "memcached")
        .map((c) => clientBudget(c, "conn-limit", cacheClients(t, c), c.settings.maxClients, "maxClients")),
  },
  {
    id: "WS-RABBITMQ-CONNECTIONS",
    title: "Broker clients fit RabbitMQ's connection_max",
    severity: "error",
    rationale: "RabbitMQ refuses connections beyond connection_max; Celery then retries and tasks stall.",
    measure: (t) =>
      componentsOf(t, "queue")
        .filter((q) => q.settings.engine === "rabbitmq")
        .map((q) => clientBudget(q, "connection_max", brokerClients(t, q), q.settings.maxConnections, "maxConnections")),
  },
  {
    id: "WS-LB-SERVER-MAXCONN",
    title: "HAProxy per-server maxconn is at most what the node serves at once",
    severity: "error",
    warnAt: null,
    rationale:
      "An app node works on processes x threads requests at once. A larger maxconn piles requests in the app's listen backlog, where they time out unseen; a matching maxconn keeps them in HAProxy's queue, which redispatches and reports them.",
    measure: (t) =>
      componentsOf(t, "loadBalancer").flatMap((lb) =>
        lb.routes
          .filter((r) => r.serves === "app")
          .map((r) => {
            const target = componentAt(t, r.target) as WebTierModel;
            const s = target.settings;
            const capacity = nodeConcurrency(s);
            return {
              constructPath: lb.path,
              subject: `${lb.id} backend ${r.name} maxconn per server`,
              used: routeMaxconn(r, target),
              limit: capacity,
              unit: "connections",
              lines: [`maxconn per server = ${routeMaxconn(r, target)}`, `${target.path}: ${s.processes} processes x ${s.threads} threads = ${capacity} at once`],
              fix: `remove maxconnPerServer of route '${r.name}' (it then follows the tier), or raise processes or threads of ${target.path}`,
            };
          }),
      ),
  },
  {
    id: "WS-APP-BACKLOG",
    title: "The app server's listen backlog holds what the proxies send, within somaxconn",
    severity: "error",
    warnAt: null,
    rationale:
      'Connections beyond the app server\'s listen backlog are dropped: nginx logs "upstream prematurely closed" or "connect() failed" at random. ' +
      "uWSGI's default backlog is 100. The backlog must hold the load balancer's maxconn towards the node, and the kernel caps it at net.core.somaxconn, which the library renders on the container.",
    measure: (t, plan) =>
      componentsOf(t, "webTier").flatMap((w) => {
        const s = w.settings;
        const sent = componentsOf(t, "loadBalancer").flatMap((lb) =>
          lb.routes.filter((r) => r.serves === "app" && (r.target === w.path || r.backup === w.path)).map((r) => ({ lb, r, maxconn: routeMaxconn(r, componentAt(t, r.target) as WebTierModel) })),
        );
        const total = sent.reduce((n, x) => n + x.maxconn, 0);
        const app = plan.containers.find((c) => c.constructPath === w.path && (c.role === "uwsgi" || c.role === "gunicorn"));
        const somaxconn = Number(app?.sysctls["net.core.somaxconn"] ?? 4096);
        const name = s.server === "uwsgi" ? "uWSGI listen" : "gunicorn backlog";
        return [
          {
            constructPath: w.path,
            subject: `${w.id} ${name} vs. load balancer maxconn`,
            used: total,
            limit: s.listenBacklog,
            unit: "connections",
            lines: [...sent.map((x) => `${x.lb.path} backend ${x.r.name}: maxconn ${x.maxconn} per server`), `sent to one node at most = ${total}`, `${name} = ${s.listenBacklog}`],
            fix: `raise listenBacklog of ${w.path} to at least ${total}`,
          },
          {
            constructPath: w.path,
            subject: `${w.id} ${name} vs. net.core.somaxconn`,
            used: s.listenBacklog,
            limit: somaxconn,
            unit: "connections",
            lines: [`${name} = ${s.listenBacklog}`, `net.core.somaxconn on the container = ${somaxconn}`],
            fix: `lower listenBacklog of ${w.path} to at most ${somaxconn}`,
          },
        ];
      }),
  },
  {
    id: "WS-FILE-LIMITS",
    title: "HAProxy and nginx connections fit their open-file limits",
    severity: "error",
    warnAt: null,
    rationale: "A proxied connection holds two descriptors (client and server side). Past the nofile limit accept() fails and the proxy drops connections.",
    measure: (t, plan) => {
      const nofile = (key: string) => plan.containers.find((c) => c.key === key)?.ulimits.find((u) => u.name === "nofile")?.soft ?? 1024;
      return [
        ...componentsOf(t, "loadBalancer").map((lb) => {
          const need = 2 * lb.settings.maxconn + HAPROXY_EXTRA_FDS;
          return {
            constructPath: lb.path,
            subject: `${lb.id} haproxy nofile`,
            used: need,
            limit: nofile(lb.id),
            unit: "descriptors",
            lines: [`2 x maxconn ${lb.settings.maxconn} + ${HAPROXY_EXTRA_FDS} for listeners and checks = ${need}`, `nofile ulimit = ${nofile(lb.id)}`],
            fix: `remove nofileLimit of ${lb.path} (it then follows maxconn), or lower maxconn`,
          };
        }),
        ...componentsOf(t, "webTier").map((w) => {
          const need = NGINX_WORKER_PROCESSES * w.settings.nginxWorkerConnections * 2;
          const limit = nofile(`${w.id}-1-nginx`);
          return {
            constructPath: w.path,
            subject: `${w.id} nginx nofile`,
            used: need,
            limit,
            unit: "descriptors",
            lines: [`${NGINX_WORKER_PROCESSES} workers x worker_connections ${w.settings.nginxWorkerConnections} x 2 = ${need}`, `nofile ulimit = ${limit}`],
            fix: `raise nginxNofileLimit of ${w.path} to at least ${need}, or lower nginxWorkerConnections`,
          };
        }),
      ];
    },
  },
  {
    id: "WS-TIMEOUT-CHAIN",
    title: "Timeouts grow outward: app server < nginx < HAProxy",
    severity: "error",
    warnAt: null,
    rationale:
      "The innermost layer must give up first, so its error (and log line) reaches the client. If HAProxy's timeout server is shorter than nginx's read timeout, HAProxy cuts slow requests with a bare 504 while the app still works on them.",
    measure: (t) =>
      componentsOf(t, "loadBalancer").flatMap((lb) =>
        lb.routes
          .filter((r) => r.serves === "app")
          .map((r) => {
            const target = componentAt(t, r.target) as WebTierModel;
            const app = target.settings.requestTimeoutSeconds;
            const nginx = nginxReadTimeoutSeconds(target.settings);
            const haproxy = haproxyServerTimeoutMs(lb.settings.timeouts.server, target.settings) / 1000;
            return {
              constructPath: lb.path,
              subject: `${lb.id} backend ${r.name} timeouts`,
              used: nginx,
              limit: haproxy - 1,
              unit: "seconds",
              lines: [
                `${target.path} ${target.settings.server === "uwsgi" ? "harakiri" : "timeout"} = ${app} s`,
                `< nginx ${target.settings.server === "uwsgi" ? "uwsgi_read_timeout" : "proxy_read_timeout"} = ${nginx} s`,
                `< HAProxy timeout server = ${haproxy} s (must exceed nginx by at least 1 s)`,
              ],
              fix: `remove timeouts.server of ${lb.path} (each backend then derives its own), or raise it to at least ${(nginx + 1) * 1000} ms`,
            };
          }),
      ),
  },
  {
    id: "WS-BODY-SIZE",
    title: "Request bodies a route accepts pass nginx and the app server, and large ones stream",
    severity: "error",
    warnAt: null,
    rationale:
      "A route that must take 50 GB uploads is useless if nginx stops at 10 MB (413) or buffers each upload to disk before the app sees a byte. The route's size must fit the target tier's limit for that path, and bodies above 100 MiB must go to a streamed location (the tier's uploadRoutes).",
    measure: (t) =>
      componentsOf(t, "loadBalancer").flatMap((lb) =>
        lb.routes
          .filter((r) => r.maxBodySize !== undefined)
          .flatMap((r) => {
            const target = componentAt(t, r.target) as WebTierModel;
            const wanted = parseSize(r.maxBodySize!);
            return r.pathPrefixes.map((prefix) => {
              const upload = target.settings.uploadRoutes.find((u) => prefix.startsWith(u.path));
              const nginxLimit = parseSize(upload?.maxBodySize ?? target.settings.clientMaxBodySize);
              // A buffered location takes bodies up to the streaming threshold at most.
              const limit = upload ? nginxLimit : Math.min(nginxLimit, STREAMING_THRESHOLD_BYTES);
              return {
                constructPath: lb.path,
                subject: `${lb.id} route ${r.name} ${prefix} body size`,
                used: wanted,
                limit,
                unit: "bytes",
                lines: [
                  `route ${prefix} accepts ${r.maxBodySize} = ${wanted} bytes`,
                  upload
                    ? `${target.path} uploadRoutes ${upload.path}: client_max_body_size ${upload.maxBodySize} = ${nginxLimit} bytes, streamed`
                    : `${target.path} clientMaxBodySize ${target.settings.clientMaxBodySize} = ${nginxLimit} bytes, buffered (buffered bodies: at most ${STREAMING_THRESHOLD_BYTES} bytes)`,
                ],
                fix: `add uploadRoutes: [{ path: "${prefix}", maxBodySize: "${r.maxBodySize}" }] to ${target.path}`,
              };
            });
          }),
      ),
  },
  {
    id: "WS-LB-MEMORY",
    title: "HAProxy's connections fit its memory limit",
    severity: "error",
    warnAt: 0.9,
    rationale: `Each connection holds two buffers and session state, about ${HAPROXY_KIB_PER_CONNECTION} KiB.`,
    measure: (t) =>
      componentsOf(t, "loadBalancer").map((lb) => {
        const s = lb.settings;
        const used = Math.ceil(HAPROXY_BASE_MIB + (s.maxconn * HAPROXY_KIB_PER_CONNECTION) / 1024);
        return {
          constructPath: lb.path,
          subject: `${lb.id} memory`,
          used,
          limit: s.memoryMiB,
          unit: "MiB",
          lines: [`${HAPROXY_BASE_MIB} MiB base + maxconn ${s.maxconn} x ${HAPROXY_KIB_PER_CONNECTION} KiB = ${mib(used)}`, `memoryMiB = ${mib(s.memoryMiB)}`],
          fix: `raise memoryMiB of ${lb.path} or lower its maxconn`,
        };
      }),
  },
  {
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
        return {
          constructPath: w.path,
          subject: `${w.id} app container memory`,
          used,
          limit,
          unit: "MiB",
          lines: [`${s.processes} processes x ${s.processRssMiB} MiB + ${APP_MASTER_RSS_MIB} MiB master = ${mib(used)}`, `memoryMiB = ${mib(limit)}`],
          fix: `raise memoryMiB of ${w.path} to at least ${used}, or lower processes`,
        };
      }),
  },
  {
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
        return {
          constructPath: w.path,
          subject: `${w.id} container memory (each worker)`,
          used,
          limit,
          unit: "MiB",
          lines: [`(${s.concurrency} children + 1 parent) x ${s.processRssMiB} MiB = ${mib(used)}`, `memoryMiB = ${mib(limit)}`],
          fix: `raise memoryMiB of ${w.path} to at least ${used}, or lower concurrency`,
        };
      }),
  },
  {
    id: "WS-CACHE-MEMORY",
    title: "Cache and broker memory fit their containers",
    severity: "error",
    warnAt: 0.9,
    rationale: "Redis needs room beyond maxmemory for client buffers and fork copy-on-write; RabbitMQ's Erlang VM needs room beyond its watermark; memcached beyond its item memory.",
    measure: (t) => [
      ...componentsOf(t, "cache").map((c) => {
        const s = c.settings;
        const item = s.engine === "redis" ? redisMaxMemoryMiB(s.memoryMiB) : memcachedItemMemoryMiB(s);
        const overhead = Math.ceil(32 + (s.maxClients * 20) / 1024);
        return {
          constructPath: c.path,
          subject: `${c.id} memory`,
          used: item + overhead,
          limit: s.memoryMiB,
          unit: "MiB",
          lines: [`${s.engine === "redis" ? "maxmemory" : "item memory"} ${mib(item)} + 32 MiB base + ${s.maxClients} clients x 20 KiB = ${mib(item + overhead)}`, `memoryMiB = ${mib(s.memoryMiB)}`],
          fix: `raise memoryMiB of ${c.path} or lower maxClients`,
        };
      }),
      ...componentsOf(t, "queue").map((q) => {
        const s = q.settings;
        const item = s.engine === "redis" ? redisMaxMemoryMiB(s.memoryMiB) : rabbitmqWatermarkMiB(s);
        const base = s.engine === "redis" ? 32 : 200;
        const overhead = Math.ceil(base + (s.maxConnections * (s.engine === "redis" ? 20 : 100)) / 1024);
        return {
          constructPath: q.path,
          subject: `${q.id} memory`,
          used: item + overhead,
          limit: s.memoryMiB,
          unit: "MiB",
          lines: [
            `${s.engine === "redis" ? "maxmemory" : "memory high watermark"} ${mib(item)} + ${base} MiB base + ${s.maxConnections} connections x ${s.engine === "redis" ? 20 : 100} KiB = ${mib(item + overhead)}`,
            `memoryMiB = ${mib(s.memoryMiB)}`,
          ],
          fix: `raise memoryMiB of ${q.path} or lower maxConnections`,
        };
      }),
    ],
  },
  {
    id: "WS-SEARCH-HEAP",
    title: "Search heap is at most half the memory and below 32 GiB",
    severity: "error",
    warnAt: null,
    rationale: "Lucene needs the other half for the file-system cache, and above about 31 GiB the JVM loses compressed pointers.",
    measure: (t) =>
      componentsOf(t, "searchCluster").map((c) => {
        const heap = searchHeapMiB(c.settings);
        const limit = Math.min(Math.floor(c.settings.memoryMiB / 2), COMPRESSED_OOPS_LIMIT_MIB);
        return {
          constructPath: c.path,
          subject: `${c.id} JVM heap`,
          used: heap,
          limit,
          unit: "MiB",
          lines: [`heap = ${mib(heap)}`, `limit = min(memoryMiB ${mib(c.settings.memoryMiB)} / 2, ${mib(COMPRESSED_OOPS_LIMIT_MIB)}) = ${mib(limit)}`],
          fix: `remove heapMiB of ${c.path} (it then follows memoryMiB), or raise memoryMiB to at least ${heap * 2}`,
        };
      }),
  },
  {
    id: "WS-CELERY-BEAT-SINGLETON",
    title: "At most one Celery beat per broker",
    severity: "error",
    warnAt: null,
    rationale: "Two beat schedulers on one broker send every periodic task twice.",
    measure: (t) =>
      componentsOf(t, "queue").map((q) => {
        const beats = componentsOf(t, "workerTier").filter((w) => w.queue === q.path && w.settings.beat);
        return {
          constructPath: q.path,
          subject: `${q.id} beat schedulers`,
          used: beats.length,
          limit: 1,
          unit: "beat",
          lines: beats.length > 0 ? beats.map((w) => `${w.path}: beat = true`) : ["no beat"],
          fix: `keep beat: true on one worker tier only (${beats.map((b) => b.path).join(", ")})`,
        };
      }),
  },
  {
    id: "WS-NET-COLLISIONS",
    title: "Names, addresses and host ports are unique, and addresses fit the subnet",
    severity: "error",
    rationale: "Docker refuses a second container with the same name or address, and a second listener on the same host port.",
    measure: (t, plan) => {
      const duplicates = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);
      const names = duplicates(plan.containers.map((c) => c.name));
      const addresses = duplicates(plan.containers.map((c) => c.address));
      const ports = duplicates(plan.containers.flatMap((c) => c.publishes.map((p) => `${p.hostIp}:${p.hostPort}`)));
      const blocks = componentBlocks(t.settings.subnet);
      const perComponent = t.components.map((c) => ({ path: c.path, n: plan.containers.filter((k) => k.constructPath === c.path).length }));
      const crowded = perComponent.filter((c) => c.n > HOSTS_PER_BLOCK);
      const tooMany = Math.max(0, t.components.length - blocks);
      const used = names.length + addresses.length + ports.length + crowded.length + tooMany;
      return [
        {
          constructPath: t.stackPath,
          subject: "names, addresses and host ports",
          used,
          limit: 0,
          unit: "collisions",
          lines: [
            `duplicate container names: ${names.length ? names.join(", ") : "none"}`,
            `duplicate addresses: ${addresses.length ? addresses.join(", ") : "none"}`,
            `duplicate host ports: ${ports.length ? ports.join(", ") : "none"}`,
            `components ${t.components.length} in ${blocks} address blocks of subnet ${t.settings.subnet}`,
            ...crowded.map((c) => `${c.path}: ${c.n} containers > ${HOSTS_PER_BLOCK} addresses in its block`),
          ],
          fix: "give each load balancer its own httpPort, use a larger subnet (smaller prefix), or split a tier of more than 245 containers",
        },
      ];
    },
  },
];

export function ruleById(id: string): Rule {
  const rule = RULES.find((r) => r.id === id);
  if (!rule) throw new Error(`unknown rule ${id}; known: ${RULES.map((r) => r.id).join(", ")}`);
  return rule;
}
