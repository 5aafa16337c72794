/**
 * redis.conf for Redis 7.0, as a cache (evicting, no persistence) or as a Celery broker (no
 * eviction, append-only file). The password never enters the file: the start script feeds it to
 * redis-server on standard input, which Redis reads after the file.
 */

export const REDIS_CONF = "/usr/local/etc/redis/redis.conf";
export const REDIS_PORT = 6379;

export interface RedisConfig {
  readonly purpose: "cache" | "broker";
  readonly maxMemoryMiB: number;
  readonly evictionPolicy: string;
  readonly maxClients: number;
}

export function renderRedisConf(c: RedisConfig): string {
  const persistence =
    c.purpose === "broker"
      ? ["# A broker must not lose queued tasks: append-only file, fsync every second.", "appendonly yes", "appendfsync everysec", 'save ""']
      : ["# A cache is rebuilt from the database: no persistence.", "appendonly no", 'save ""'];
  return [
    "# Rendered by cdktf-webstack for Redis 7.0. Edit the stack, not this file.",
    "bind 0.0.0.0",
    `port ${REDIS_PORT}`,
    "protected-mode yes",
    "dir /data",
    `maxclients ${c.maxClients}`,
    `maxmemory ${c.maxMemoryMiB}mb`,
    `maxmemory-policy ${c.purpose === "broker" ? "noeviction" : c.evictionPolicy}`,
    "timeout 0",
    "tcp-keepalive 60",
    ...persistence,
    "# Dangerous admin commands are renamed away.",
    'rename-command FLUSHALL ""',
    'rename-command DEBUG ""',
    "",
  ].join("\n");
}

export function renderRedisStart(passwordEnv: string): string {
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. The password reaches Redis on stdin, never on the command line.",
    "set -eu",
    `: "\${${passwordEnv}:?must be set}"`,
    `exec redis-server ${REDIS_CONF} - <<EOF`,
    `requirepass $${passwordEnv}`,
    "EOF",
    "",
  ].join("\n");
}
