/**
 * redis.conf for Redis 7.0, as a cache (evicting, no persistence) or as a Celery broker (no
 * eviction, append-only file). The password never enters the file: the start script feeds it to
 * redis-server on standard input, which Redis reads after the file.
 */

export const REDIS_CONF = "/usr/local/etc/redis/redis.conf";
export const REDIS_PORT = 6379;
/** A Redis Queue's databases: Celery's broker (its queues' lists), and its result backend. */
export const REDIS_BROKER_DB = 0;
export const REDIS_RESULT_DB = 1;

export interface RedisConfig {
  readonly purpose: "cache" | "broker";
  readonly maxMemoryMiB: number;
  readonly evictionPolicy: string;
  readonly maxClients: number;
  /** Directives of the component's `redisDirectives`, validated by its props schema; rendered after the table, in this order. @default {} */
  readonly extraDirectives?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

/** One directive of redis.conf: its value(s) for a config, the config field it derives from, a comment above it. */
export interface RedisSetting {
  readonly value: (c: RedisConfig) => string | number | readonly string[] | undefined;
  readonly from?: keyof RedisConfig;
  readonly comment?: (c: RedisConfig) => string;
}

const fixed = (value: string | number | readonly string[], comment?: string): RedisSetting => ({ value: () => value, comment: comment ? () => comment : undefined });
const broker = (c: RedisConfig) => c.purpose === "broker";

/**
 * Every directive redis.conf sets: the one list, read by the `redisDirectives` schema, which refuses
 * them all (a new directive here is refused there with no edit).
 */
export const REDIS_SETTINGS: Readonly<Record<string, RedisSetting>> = {
  bind: fixed("0.0.0.0"),
  port: fixed(REDIS_PORT),
  "protected-mode": fixed("yes"),
  dir: fixed("/data"),
  maxclients: { from: "maxClients", value: (c) => c.maxClients },
  maxmemory: { from: "maxMemoryMiB", value: (c) => `${c.maxMemoryMiB}mb` },
  "maxmemory-policy": { from: "evictionPolicy", value: (c) => (broker(c) ? "noeviction" : c.evictionPolicy) },
  timeout: fixed(0),
  "tcp-keepalive": fixed(60),
  appendonly: {
    from: "purpose",
    value: (c) => (broker(c) ? "yes" : "no"),
    comment: (c) => (broker(c) ? "A broker must not lose queued tasks: append-only file, fsync every second." : "A cache is rebuilt from the database: no persistence."),
  },
  appendfsync: { from: "purpose", value: (c) => (broker(c) ? "everysec" : undefined) },
  save: fixed('""'),
  "rename-command": fixed(['FLUSHALL ""', 'DEBUG ""'], "Dangerous admin commands are renamed away."),
};

const redisValue = (v: string | number | boolean) => (typeof v === "boolean" ? (v ? "yes" : "no") : String(v));

export function renderRedisConf(c: RedisConfig): string {
  const table = Object.entries(REDIS_SETTINGS).flatMap(([key, s]) => {
    const v = s.value(c);
    if (v === undefined) return [];
    return [...(s.comment ? [`# ${s.comment(c)}`] : []), ...(Array.isArray(v) ? v : [v]).map((x) => `${key} ${x}`)];
  });
  const extra = Object.entries(c.extraDirectives ?? {}).flatMap(([key, v]) => (Array.isArray(v) ? v : [v as string | number | boolean]).map((x) => `${key} ${redisValue(x)}`));
  return [
    "# Rendered by cdktf-webstack for Redis 7.0. Edit the stack, not this file.",
    ...table,
    ...(extra.length > 0 ? ["# redisDirectives of the component; Redis refuses a directive it does not know.", ...extra] : []),
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
