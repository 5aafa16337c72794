/**
 * What `cdktf-webstack top` reads on the running cluster, and the model's figure for each: computed
 * from the same client lines and limits the budget rules use (clients.ts, WS-DB-CONNECTIONS,
 * WS-REDIS-CLIENTS, WS-RABBITMQ-CONNECTIONS, the per-server maxconn, each container's memory limit),
 * so the live figure stands beside the number the synth checked. Plain data: the app computes it
 * and hands it to the command as one JSON line.
 */
import { brokerClients, cacheClients, databaseClients, exporterDatabaseClients, poolerClients, type ClientLine } from "../clients";
import { routeMaxconn } from "../derive";
import { databaseSlots, webNodeSlots } from "../layout";
import type { ClusterPlan } from "../model";
import { monitoringOf } from "../monitoring";
import { ENV } from "../plan/clients";
import { componentsOf, type Topology } from "../topology";
import { APP_MEMORY, CACHE_MEMORY, DB_MEMORY, ETCD_MEMORY, LB_MEMORY, MONITORING_MEMORY, WORKER_MEMORY } from "../budgets/rules/memory";
import type { Rule } from "../budgets/rule";
import type { ContainerRole } from "../model";

/** The memory rule that sizes a container of each role (the search heap rule sizes a JVM heap, not the container). */
const MEMORY_RULES: Partial<Record<ContainerRole, Rule>> = {
  "postgres-primary": DB_MEMORY,
  "postgres-replica": DB_MEMORY,
  "postgres-patroni": DB_MEMORY,
  etcd: ETCD_MEMORY,
  haproxy: LB_MEMORY,
  uwsgi: APP_MEMORY,
  gunicorn: APP_MEMORY,
  "celery-worker": WORKER_MEMORY,
  redis: CACHE_MEMORY,
  memcached: CACHE_MEMORY,
  rabbitmq: CACHE_MEMORY,
  prometheus: MONITORING_MEMORY,
};

/** One budgeted client share: who (a tier's application_name, or its construct path), how many, and why. */
export interface TopShare {
  /** The key live connections are grouped by: an application_name (PostgreSQL) or a client's construct path (Redis, RabbitMQ). */
  readonly key?: string;
  readonly source: string;
  readonly formula: string;
  readonly count: number;
}

/** A server whose clients are counted: its container, the rule, the limit and the budgeted shares. */
export interface TopServer {
  readonly rule: string;
  readonly component: string;
  readonly key: string;
  readonly name: string;
  /** The limit the rule checks against (usable slots, maxclients, connection_max). */
  readonly limit: number;
  readonly limitText: string;
  readonly shares: readonly TopShare[];
}

export interface TopLoadBalancer {
  readonly component: string;
  readonly key: string;
  readonly name: string;
  readonly statsPort: number;
  readonly statsUser: string;
  /** The container's environment variable holding the stats password (read inside the container, never here). */
  readonly passwordEnv: string;
  readonly servers: readonly { readonly backend: string; readonly server: string; readonly maxconn: number }[];
}

export interface TopContainer {
  readonly key: string;
  readonly name: string;
  readonly constructPath: string;
  readonly address: string;
  readonly memoryMiB: number;
  /** The memory rule's estimate of what the container uses at most, where a rule sizes it. */
  readonly estimate?: { readonly rule: string; readonly mib: number };
}

export interface TopPlan {
  readonly stack: string;
  /** application_name is set only in monitored stacks; elsewhere the tiers' connections carry none. */
  readonly monitored: boolean;
  readonly swarm: boolean;
  /** The stack's `dockerHost`, when it names one: the engine it was deployed to. */
  readonly dockerHost?: string;
  readonly databases: readonly TopServer[];
  readonly redis: readonly TopServer[];
  readonly rabbitmq: readonly TopServer[];
  readonly loadBalancers: readonly TopLoadBalancer[];
  /** Every long-running container (one-shot release containers have exited by design). */
  readonly containers: readonly TopContainer[];
}

/** The tier a client line belongs to: its source without the "(beat)", "(result backend)" ... note. */
const clientPath = (line: ClientLine) => line.source.replace(/ \(.*\)$/, "");

function shares(lines: readonly ClientLine[], key: (l: ClientLine) => string | undefined): TopShare[] {
  return lines.map((l) => ({ key: key(l), source: l.source, formula: l.formula, count: l.count }));
}

export function topPlan(t: Topology, plan: ClusterPlan): TopPlan {
  const container = (key: string) => {
    const c = plan.containers.find((x) => x.key === key);
    if (!c) throw new Error(`internal: no container ${key} in the plan`);
    return c;
  };
  const measured = new Map<Rule, ReturnType<Rule["measure"]>>();
  const measurementsOf = (rule: Rule) => measured.get(rule) ?? measured.set(rule, rule.measure(t)).get(rule)!;
  const databases = componentsOf(t, "database").flatMap((db) => {
    const s = db.settings;
    const slots = databaseSlots(db);
    const usable = s.maxConnections - s.superuserReservedConnections;
    // Behind PgBouncer a replica sees only the pools that reach it (the rule's second measurement).
    const linesOf = (replica: boolean) => (replica && s.pooler ? [...poolerClients(db, "replica-1"), ...exporterDatabaseClients(t)] : databaseClients(t, db));
    return [slots.primary, ...slots.replicas].map((slot, i): TopServer => {
      const c = container(slot.key);
      return {
        rule: "WS-DB-CONNECTIONS",
        component: db.path,
        key: c.key,
        name: c.name,
        limit: usable,
        limitText: `usable = max_connections ${s.maxConnections} - superuser_reserved_connections ${s.superuserReservedConnections}`,
        shares: shares(linesOf(i > 0), (l) => l.applicationName),
      };
    });
  });
  const redisServer = (component: { path: string; id: string }, lines: ClientLine[], limit: number, rule: string, limitName: string): TopServer => {
    const c = container(component.id);
    return { rule, component: component.path, key: c.key, name: c.name, limit, limitText: `${limitName} ${limit}`, shares: shares(lines, clientPath) };
  };
  const redis = [
    ...componentsOf(t, "cache")
      .filter((c) => c.settings.engine === "redis")
      .map((c) => redisServer(c, cacheClients(t, c), c.settings.maxClients, "WS-REDIS-CLIENTS", "maxclients")),
    ...componentsOf(t, "queue")
      .filter((q) => q.settings.engine === "redis")
      .map((q) => redisServer(q, brokerClients(t, q), q.settings.maxConnections, "WS-REDIS-CLIENTS", "maxclients")),
  ];
  const rabbitmq = componentsOf(t, "queue")
    .filter((q) => q.settings.engine === "rabbitmq")
    .map((q) => redisServer(q, brokerClients(t, q), q.settings.maxConnections, "WS-RABBITMQ-CONNECTIONS", "connection_max"));
  const loadBalancers = componentsOf(t, "loadBalancer").map((lb): TopLoadBalancer => {
    const c = container(lb.id);
    return {
      component: lb.path,
      key: c.key,
      name: c.name,
      statsPort: lb.settings.statsPort,
      statsUser: lb.settings.statsUser,
      passwordEnv: ENV.haproxyStatsPassword,
      servers: lb.routes.flatMap((route) => {
        const maxconn = routeMaxconn(t, route);
        const tiers = [route.target, ...(route.backup ? [route.backup] : [])];
        return tiers.flatMap((tier) => Array.from({ length: tier.settings.nodes }, (_, n) => ({ backend: route.name, server: webNodeSlots(tier, n).node, maxconn })));
      }),
    };
  });
  return {
    stack: t.stackName,
    monitored: monitoringOf(t) !== undefined,
    swarm: plan.target !== undefined,
    ...(t.settings.dockerHost ? { dockerHost: t.settings.dockerHost } : {}),
    databases,
    redis,
    rabbitmq,
    loadBalancers,
    containers: plan.containers.filter((c) => !c.oneShot).map((c): TopContainer => {
      const rule = MEMORY_RULES[c.role];
      const m = rule && measurementsOf(rule).find((x) => x.constructPath === c.constructPath);
      return { key: c.key, name: c.name, constructPath: c.constructPath, address: c.address, memoryMiB: c.memoryMiB, ...(rule && m ? { estimate: { rule: rule.id, mib: m.used } } : {}) };
    }),
  };
}

/** The model's total for a server: the rule's `used`. */
export const modelledTotal = (s: TopServer) => s.shares.reduce((n, x) => n + x.count, 0);
