/** The cache: Redis (see redis.ts) or memcached. */
import { MEMCACHED_THREADS, cacheImage, memcachedItemMemoryMiB } from "../derive";
import { MEMCACHED_PORT, memcachedCommand } from "../render/memcached";
import type { CacheModel } from "../topology";
import { cmd, type PlanContext, type Planner } from "./context";
import { planRedis } from "./redis";

export const cachePlanner: Planner<"cache"> = {
  kind: "cache",
  plan(ctx: PlanContext, cache: CacheModel): void {
    const s = cache.settings;
    if (s.engine === "redis") {
      planRedis(ctx, cache, s.maxClients, s.memoryMiB, cacheImage(s));
      return;
    }
    ctx.container({
      key: cache.id,
      constructPath: cache.path,
      role: "memcached",
      image: cacheImage(s),
      command: memcachedCommand({ itemMemoryMiB: memcachedItemMemoryMiB(s), maxConnections: s.maxClients, threads: MEMCACHED_THREADS }),
      user: "memcache",
      env: {},
      address: ctx.address(cache, 0),
      listens: [{ port: MEMCACHED_PORT, purpose: "memcached" }],
      files: [],
      memoryMiB: s.memoryMiB,
      healthcheck: cmd("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${MEMCACHED_PORT} && printf 'version\\r\\n' >&3 && head -c 8 <&3 | grep -q VERSION`),
    });
  },
};
