/**
 * How a tier's processes reach the services it is wired to: the connection URLs (with secret
 * placeholders) in their environment, and the containers they start after.
 */
import type { PoolSettings } from "../connection-model";
import { componentSlots, databaseSlots } from "../layout";
import { MEMCACHED_PORT } from "../render/memcached";
import { PGBOUNCER_PORT } from "../render/pgbouncer";
import { PG_PORT } from "../render/postgres";
import { RABBITMQ_PORT } from "../render/rabbitmq";
import { REDIS_BROKER_DB, REDIS_PORT, REDIS_RESULT_DB } from "../render/redis";
import type { ServiceEndpoint } from "../render/release";
import { SEARCH_HTTP_PORT } from "../render/search";
import { PropsError } from "../errors";
import { FAILOVER_CLIENT_OPTIONS } from "../failover";
import { substituteUrlReferences, type ServiceUrl } from "../references";
import type { CacheModel, DatabaseModel, LoadBalancerModel, QueueModel, SearchClusterModel, WebTierModel, Wiring, WorkerTierModel } from "../topology";
import { snake, type PlanContext } from "./context";

/** Environment variable names the rendered scripts read secrets from. */
export const ENV = {
  haproxyStatsPassword: "HAPROXY_STATS_PASSWORD",
  dbPassword: "WEBSTACK_DB_PASSWORD",
  replicationPassword: "WEBSTACK_REPLICATION_PASSWORD",
  redisPassword: "REDIS_PASSWORD",
  rabbitmqPassword: "RABBITMQ_PASSWORD",
} as const;

/** Terraform variable names of each component's secrets. */
export const secretNames = {
  statsPassword: (lb: LoadBalancerModel) => `${snake(lb.id)}_stats_password`,
  dbPassword: (db: DatabaseModel) => `${snake(db.id)}_password`,
  replicationPassword: (db: DatabaseModel) => `${snake(db.id)}_replication_password`,
  redisPassword: (c: CacheModel | QueueModel) => `${snake(c.id)}_password`,
  rabbitmqPassword: (q: QueueModel) => `${snake(q.id)}_password`,
};

/** The application role's password: every client of the database and the database itself use this one. */
export function databasePassword(ctx: PlanContext, db: DatabaseModel): string {
  return ctx.secret(secretNames.dbPassword(db), `password of the '${db.settings.user}' role of ${db.path}`);
}

export function redisPassword(ctx: PlanContext, c: CacheModel | QueueModel): string {
  const purpose = c.kind === "cache" ? "cache" : "broker";
  return ctx.secret(secretNames.redisPassword(c), `password of the Redis ${purpose} ${c.path}`);
}

export function rabbitmqPassword(ctx: PlanContext, q: QueueModel): string {
  return ctx.secret(secretNames.rabbitmqPassword(q), `password of the RabbitMQ user of ${q.path}`);
}

function databaseUrl(ctx: PlanContext, db: DatabaseModel, replica: boolean, applicationName?: string): string {
  const s = db.settings;
  const name = applicationName === undefined ? "" : `application_name=${applicationName}`;
  const password = databasePassword(ctx, db);
  const slots = databaseSlots(db);
  if (slots.pooler) {
    const bouncer = `${ctx.address(db, slots.pooler)}:${PGBOUNCER_PORT}`;
    return `postgresql://${s.user}:${password}@${bouncer}/${s.databaseName}${replica ? "_ro" : ""}${name ? `?${name}` : ""}`;
  }
  const hosts = [slots.primary, ...slots.replicas].map((slot) => `${ctx.address(db, slot)}:${PG_PORT}`);
  // Every node is listed: after a promotion libpq finds the new primary by itself. Reads go to
  // replicas only: a read pool falling back to the primary would double the primary's connections.
  const options = s.failover ? `&${FAILOVER_CLIENT_OPTIONS}` : "";
  return replica
    ? `postgresql://${s.user}:${password}@${hosts.slice(1).join(",")}/${s.databaseName}?target_session_attrs=prefer-standby${options}${name ? `&${name}` : ""}`
    : `postgresql://${s.user}:${password}@${hosts.join(",")}/${s.databaseName}?target_session_attrs=read-write${options}${name ? `&${name}` : ""}`;
}

function cacheUrl(ctx: PlanContext, cache: CacheModel, redisDb = 0): string {
  const address = ctx.address(cache, 0);
  if (cache.settings.engine === "memcached") return `memcached://${address}:${MEMCACHED_PORT}`;
  return `redis://:${redisPassword(ctx, cache)}@${address}:${REDIS_PORT}/${redisDb}`;
}

function brokerUrl(ctx: PlanContext, queue: QueueModel): string {
  const address = ctx.address(queue, 0);
  if (queue.settings.engine === "redis") return `redis://:${redisPassword(ctx, queue)}@${address}:${REDIS_PORT}/${REDIS_BROKER_DB}`;
  return `amqp://${queue.settings.user}:${rabbitmqPassword(ctx, queue)}@${address}:${RABBITMQ_PORT}/${queue.settings.vhost}`;
}

function resultBackendUrl(ctx: PlanContext, queue: QueueModel): string {
  if (queue.settings.engine === "rabbitmq") return "rpc://";
  return `redis://:${redisPassword(ctx, queue)}@${ctx.address(queue, 0)}:${REDIS_PORT}/${REDIS_RESULT_DB}`;
}

function searchUrl(ctx: PlanContext, search: SearchClusterModel): string {
  return componentSlots(search).map((slot) => `http://${ctx.address(search, slot)}:${SEARCH_HTTP_PORT}`).join(",");
}

/**
 * The connection environment of a tier wired to `wiring`, its processes holding `pool` each, and
 * connecting to the database as `applicationName` (monitored stacks, see monitoring.ts).
 */
export function clientEnv(ctx: PlanContext, wiring: Wiring, pool: PoolSettings, applicationName?: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (wiring.database) {
    env.DATABASE_URL = databaseUrl(ctx, wiring.database, false, applicationName);
    if (wiring.database.settings.replicas > 0) env.DATABASE_REPLICA_URL = databaseUrl(ctx, wiring.database, true, applicationName);
    // The app reads its pool from these, so it opens what the budget counted (see connection-model.ts).
    Object.assign(env, { DB_POOL_SIZE: String(pool.poolSize), DB_MAX_OVERFLOW: String(pool.maxOverflow), DB_POOL_MODE: pool.connectionPool });
  }
  if (wiring.cache) env.CACHE_URL = cacheUrl(ctx, wiring.cache);
  if (wiring.queue) Object.assign(env, { CELERY_BROKER_URL: brokerUrl(ctx, wiring.queue), CELERY_RESULT_BACKEND: resultBackendUrl(ctx, wiring.queue) });
  if (wiring.search) env.SEARCH_URL = searchUrl(ctx, wiring.search);
  return env;
}

/**
 * The error-reporting DSN (the stack's `errorReporting`) for a tier's containers: a secret placeholder,
 * so it reaches the environment only, never a rendered file. One name for it: the tier's own
 * `environment` may not set it too.
 */
export function errorReportingEnv(ctx: PlanContext, tier: WebTierModel | WorkerTierModel): Record<string, string> {
  const e = ctx.topology.settings.errorReporting;
  if (!e) return {};
  if (Object.hasOwn(tier.settings.environment, e.environmentVariable)) {
    throw new PropsError(tier.path, [`environment.${e.environmentVariable}: set from the stack's errorReporting (the sensitive variable ${e.dsnVariable}); remove it here`]);
  }
  return { [e.environmentVariable]: ctx.urlSecret(e.dsnVariable, "error-reporting DSN the app and its workers report to (Sentry's, say: an http or https URL)") };
}

/** The wiring prop each URL reference needs set to its service. */
const WIRING_FIELD: Readonly<Record<ServiceUrl, keyof Wiring>> = {
  database: "database",
  "database-replica": "database",
  cache: "cache",
  broker: "queue",
  "result-backend": "queue",
  search: "search",
};

/**
 * The tier's own environment with every URL reference replaced. A reference must name a service the
 * tier is wired to: that is what the budgets count.
 */
export function resolveEnvironment(
  ctx: PlanContext,
  tier: WebTierModel | WorkerTierModel,
  environment: Readonly<Record<string, string>>,
  applicationName?: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(environment)) {
    out[key] = substituteUrlReferences(value, (ref) => {
      const field = WIRING_FIELD[ref.url];
      const wired = tier[field];
      if (!wired || wired.path !== ref.path) {
        throw new PropsError(tier.path, [`environment.${key}: refers to ${ref.path}, but ${field} of this tier is ${wired ? wired.path : "not set"}; wire it (${field}: ...) so the budgets count it`]);
      }
      if (ref.url === "database-replica" && tier.database!.settings.replicas === 0) {
        throw new PropsError(tier.path, [`environment.${key}: ${ref.path} has no replicas to read from (replicas: 0)`]);
      }
      switch (ref.url) {
        case "database":
        case "database-replica":
          return databaseUrl(ctx, tier.database!, ref.url === "database-replica", applicationName);
        case "cache":
          return cacheUrl(ctx, tier.cache!, ref.redisDb);
        case "broker":
          return brokerUrl(ctx, tier.queue!);
        case "result-backend":
          return resultBackendUrl(ctx, tier.queue!);
        case "search":
          return searchUrl(ctx, tier.search!);
      }
    });
  }
  return out;
}

/** Containers a client of `wiring` starts after: the primary (or its pooler), the cache, the broker, the search nodes. */
export function serviceKeys(wiring: Wiring): string[] {
  const keys: string[] = [];
  if (wiring.database) {
    const slots = databaseSlots(wiring.database);
    keys.push((slots.pooler ?? slots.primary).key);
  }
  for (const service of [wiring.cache, wiring.queue, wiring.search]) {
    if (service) keys.push(...componentSlots(service).map((slot) => slot.key));
  }
  return keys;
}

/** The endpoints of the containers `serviceKeys` names, in the same order. */
export function serviceEndpoints(ctx: PlanContext, wiring: Wiring): ServiceEndpoint[] {
  const out: ServiceEndpoint[] = [];
  if (wiring.database) {
    const db = wiring.database;
    const slots = databaseSlots(db);
    const host = ctx.address(db, slots.pooler ?? slots.primary);
    out.push({ protocol: "postgres", host, port: slots.pooler ? PGBOUNCER_PORT : PG_PORT, user: db.settings.user, database: db.settings.databaseName });
  }
  if (wiring.cache) out.push({ protocol: "tcp", host: ctx.address(wiring.cache, 0), port: wiring.cache.settings.engine === "memcached" ? MEMCACHED_PORT : REDIS_PORT });
  if (wiring.queue) out.push({ protocol: "tcp", host: ctx.address(wiring.queue, 0), port: wiring.queue.settings.engine === "redis" ? REDIS_PORT : RABBITMQ_PORT });
  if (wiring.search) {
    const search = wiring.search;
    out.push(...componentSlots(search).map((slot) => ({ protocol: "tcp" as const, host: ctx.address(search, slot), port: SEARCH_HTTP_PORT })));
  }
  return out;
}
