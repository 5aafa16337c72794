/** Cache, Queue and SearchCluster props. */
import { z } from "zod";
import { positiveInt, memoryMiB, dockerImage, identifier } from "./common";
import { cacheRedisDirectivesSchema, queueRedisDirectivesSchema } from "./daemon-options";

/** A Redis escape hatch is for engine "redis" only: another engine would drop it silently. */
const redisOnly = (s: { engine: string; redisDirectives: Readonly<Record<string, unknown>> }, ctx: z.RefinementCtx) => {
  if (s.engine !== "redis" && Object.keys(s.redisDirectives).length > 0) {
    ctx.addIssue({ code: "custom", path: ["redisDirectives"], message: `the engine is ${s.engine}, which does not read redisDirectives` });
  }
};


export const cacheSchema = z
  .object({
    /** @default "redis" */
    engine: z.enum(["redis", "memcached"]).default("redis"),
    /** Memory limit of the container; the cache size derives from it. @default 512 */
    memoryMiB: memoryMiB.default(512),
    /** Redis `maxmemory-policy`. @default "allkeys-lru" */
    evictionPolicy: z
      .enum(["allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "allkeys-random", "volatile-ttl", "noeviction"])
      .default("allkeys-lru"),
    /** Redis `maxclients` / memcached `-c`. @default 1024 */
    maxClients: positiveInt.default(1024),
    /** @default "redis:7.0" or "memcached:1.6" */
    image: dockerImage.optional(),
    /**
     * redis.conf directives the library has no prop for, e.g. `{ "notify-keyspace-events": "Ex" }`
     * (a list repeats the directive). Directives redis.conf already sets (maxclients, maxmemory, ...)
     * and ones that bypass the password or a reference are refused; Redis refuses a name it does not
     * know at start. engine "redis" only. @default {}
     */
    redisDirectives: cacheRedisDirectivesSchema.default({}),
  })
  .strict()
  .superRefine(redisOnly);

export const queueSchema = z
  .object({
    /** @default "rabbitmq" */
    engine: z.enum(["rabbitmq", "redis"]).default("rabbitmq"),
    /** @default 1024 */
    memoryMiB: memoryMiB.min(128).default(1024),
    /** Virtual host (RabbitMQ). @default "app" */
    vhost: z.string().regex(/^[A-Za-z0-9_-]+$/).default("app"),
    /** User the app and workers log in as (RabbitMQ). @default "app" */
    user: identifier.default("app"),
    /** Connection limit: RabbitMQ `connection_max`, Redis `maxclients`. @default 1024 */
    maxConnections: positiveInt.default(1024),
    /** Enable the RabbitMQ management UI on the internal network (never published). @default false */
    managementUi: z.boolean().default(false),
    /** @default "rabbitmq:3.10" or "redis:7.0" */
    image: dockerImage.optional(),
    /** redis.conf directives the library has no prop for, as on a Cache. engine "redis" only. @default {} */
    redisDirectives: queueRedisDirectivesSchema.default({}),
  })
  .strict()
  .superRefine(redisOnly);

export const searchClusterSchema = z
  .object({
    /** @default "elasticsearch" */
    engine: z.enum(["elasticsearch", "opensearch"]).default("elasticsearch"),
    /** Nodes, all master-eligible and data. @default 1 */
    nodes: positiveInt.max(32).default(1),
    /** Memory limit of each node. @default 2048 */
    memoryMiB: memoryMiB.min(512).default(2048),
    /** JVM heap, MiB. @default half of memoryMiB, at most 31744 (compressed pointers stop above ~31 GiB) */
    heapMiB: positiveInt.optional(),
    /** Cluster name. @default the construct id */
    clusterName: z.string().regex(/^[a-z0-9-]+$/).optional(),
    /** @default "elasticsearch:7.17.25" or "opensearchproject/opensearch:2.17.1" */
    image: dockerImage.optional(),
  })
  .strict();
