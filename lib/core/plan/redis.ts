/** One Redis container, as a cache (evicting, not persisted) or as a Celery broker (no eviction, append-only). */
import { redisMaxMemoryMiB } from "../derive";
import { REDIS_CONF, REDIS_PORT, renderRedisConf, renderRedisStart } from "../render/redis";
import type { CacheModel, QueueModel } from "../topology";
import { ENV, redisPassword } from "./clients";
import { file, shell, type PlanContext } from "./context";

export function planRedis(ctx: PlanContext, component: CacheModel | QueueModel, maxClients: number, memoryMiB: number, image: string): void {
  const purpose = component.kind === "cache" ? "cache" : "broker";
  ctx.container({
    key: component.id,
    constructPath: component.path,
    role: "redis",
    image,
    command: ["/bin/sh", "/usr/local/etc/redis/start.sh"],
    user: "redis",
    env: { [ENV.redisPassword]: redisPassword(ctx, component) },
    address: ctx.address(component, 0),
    listens: [{ port: REDIS_PORT, purpose: `redis ${purpose}` }],
    files: [
      file(
        REDIS_CONF,
        renderRedisConf({
          purpose,
          maxMemoryMiB: redisMaxMemoryMiB(memoryMiB),
          evictionPolicy: component.kind === "cache" ? component.settings.evictionPolicy : "noeviction",
          maxClients,
          extraDirectives: component.settings.redisDirectives,
        }),
      ),
      file("/usr/local/etc/redis/start.sh", renderRedisStart(ENV.redisPassword), true),
    ],
    mounts: purpose === "broker" ? [ctx.volume(component, `${component.id}-data`, "/data")] : [],
    memoryMiB,
    healthcheck: shell(`redis-cli --no-auth-warning -a "$${ENV.redisPassword}" ping | grep -q PONG`),
  });
}
