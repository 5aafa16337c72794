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
import { REDIS_PORT } from "../render/redis";
import { SEARCH_HTTP_PORT } from "../render/search";
import type { CacheModel, DatabaseModel, LoadBalancerModel, QueueModel, SearchClusterModel, Wiring } from "../topology";
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

function databaseEnv(ctx: PlanContext, db: DatabaseModel, pool: PoolSettings): Record<string, string> {
  const s = db.settings;
  const password = databasePassword(ctx, db);
  const slots = databaseSlots(db);
  // The app reads its pool from these, so it opens what the budget counted (see connection-model.ts).
  const poolEnv = { DB_POOL_SIZE: String(pool.poolSize), DB_MAX_OVERFLOW: String(pool.maxOverflow), DB_POOL_MODE: pool.connectionPool };
  if (slots.pooler) {
    const bouncer = `${ctx.address(db, slots.pooler)}:${PGBOUNCER_PORT}`;
    return {
      DATABASE_URL: `postgresql://${s.user}:${password}@${bouncer}/${s.databaseName}`,
      ...(s.replicas > 0 ? { DATABASE_REPLICA_URL: `postgresql://${s.user}:${password}@${bouncer}/${s.databaseName}_ro` } : {}),
      ...poolEnv,
    };
  }
  const hosts = [slots.primary, ...slots.replicas].map((slot) => `${ctx.address(db, slot)}:${PG_PORT}`);
  const env: Record<string, string> = {
    // Every node is listed: after a promotion libpq finds the new primary by itself.
    DATABASE_URL: `postgresql://${s.user}:${password}@${hosts.join(",")}/${s.databaseName}?target_session_attrs=read-write`,
    ...poolEnv,
  };
  if (s.replicas > 0) {
    // Replicas only: a read pool falling back to the primary would double the primary's connections.
    env.DATABASE_REPLICA_URL = `postgresql://${s.user}:${password}@${hosts.slice(1).join(",")}/${s.databaseName}?target_session_attrs=prefer-standby`;
  }
  return env;
}

function cacheEnv(ctx: PlanContext, cache: CacheModel): Record<string, string> {
  const address = ctx.address(cache, 0);
  if (cache.settings.engine === "memcached") return { CACHE_URL: `memcached://${address}:${MEMCACHED_PORT}` };
  return { CACHE_URL: `redis://:${redisPassword(ctx, cache)}@${address}:${REDIS_PORT}/0` };
}

function queueEnv(ctx: PlanContext, queue: QueueModel): Record<string, string> {
  const address = ctx.address(queue, 0);
  if (queue.settings.engine === "redis") {
    const password = redisPassword(ctx, queue);
    return {
      CELERY_BROKER_URL: `redis://:${password}@${address}:${REDIS_PORT}/0`,
      CELERY_RESULT_BACKEND: `redis://:${password}@${address}:${REDIS_PORT}/1`,
    };
  }
  return {
    CELERY_BROKER_URL: `amqp://${queue.settings.user}:${rabbitmqPassword(ctx, queue)}@${address}:${RABBITMQ_PORT}/${queue.settings.vhost}`,
    CELERY_RESULT_BACKEND: "rpc://",
  };
}

function searchEnv(ctx: PlanContext, search: SearchClusterModel): Record<string, string> {
  const urls = componentSlots(search).map((slot) => `http://${ctx.address(search, slot)}:${SEARCH_HTTP_PORT}`);
  return { SEARCH_URL: urls.join(",") };
}

/** The connection environment of a tier wired to `wiring`, its processes holding `pool` each. */
export function clientEnv(ctx: PlanContext, wiring: Wiring, pool: PoolSettings): Record<string, string> {
  return {
    ...(wiring.database ? databaseEnv(ctx, wiring.database, pool) : {}),
    ...(wiring.cache ? cacheEnv(ctx, wiring.cache) : {}),
    ...(wiring.queue ? queueEnv(ctx, wiring.queue) : {}),
    ...(wiring.search ? searchEnv(ctx, wiring.search) : {}),
  };
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
