/**
 * `cdktf-webstack top`'s side of the Docker engine: `docker exec` into the stack's own containers
 * (names from the plan) and ask each daemon itself, the way an operator would, plus one
 * `docker stats`. No Prometheus needed, so it works with and without Monitoring, and nothing is
 * published or installed: every client it runs (psql, redis-cli, rabbitmqctl, bash) is already in
 * the daemon's image. One daemon that cannot be read is reported as such; the others still are.
 */
import { spawnSync } from "node:child_process";
import type { LiveReadings, Reading } from "../core/top/compare";
import { parseDockerStats, parseHaproxyStats, parsePgActivity, parseRabbitConnections, parseRedisClients } from "../core/top/parse";
import type { TopPlan } from "../core/top/plan";
import { ENV } from "../core/plan/clients";

/** A failure of the command as a whole (no engine, nothing running): printed without a stack trace. */
export class TopError extends Error {}

function docker(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): string {
  const r = spawnSync("docker", args, { encoding: "utf8", env, timeout: timeoutMs, maxBuffer: 16 << 20 });
  if (r.error) throw new Error(`docker ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${(r.stderr || r.stdout).trim() || `docker ${args[0]} exited ${r.status}`}`);
  return r.stdout;
}

function attempt<T>(read: () => T): Reading<T> {
  try {
    return { value: read() };
  } catch (e) {
    return { error: (e as Error).message.split("\n")[0] };
  }
}

/** Client backends by application_name, open and running a query, without the session that asks. */
const PG_ACTIVITY =
  "select coalesce(application_name, ''), count(*), count(*) filter (where state = 'active') from pg_stat_activity " +
  "where backend_type = 'client backend' and pid <> pg_backend_pid() group by 1 order by 1";

/** The stats CSV over bash's /dev/tcp: the haproxy image has no HTTP client (its health check does the same). */
const HAPROXY_STATS =
  'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /stats;csv HTTP/1.0\\r\\nAuthorization: Basic %s\\r\\n\\r\\n" "$(printf %s "$2:$' +
  ENV.haproxyStatsPassword +
  '" | base64 -w0)" >&3 && cat <&3';

export interface ReadOptions {
  /** DOCKER_HOST of the engine; else the environment's, else the stack's dockerHost. */
  readonly dockerHost?: string;
}

export function readLive(plan: TopPlan, o: ReadOptions = {}): LiveReadings {
  if (plan.swarm) throw new TopError(`${plan.stack} targets a Docker Swarm: top reads the containers of one engine, and does not read swarm services yet`);
  const host = o.dockerHost ?? process.env.DOCKER_HOST ?? plan.dockerHost;
  const env = { ...process.env, ...(host ? { DOCKER_HOST: host } : {}) };
  let engine: string;
  try {
    engine = `Docker ${docker(["version", "--format", "{{.Server.Version}}"], env).trim()} at ${host ?? "the default socket"}`;
  } catch (e) {
    throw new TopError(`cannot reach the Docker engine at ${host ?? "the default socket"}: ${(e as Error).message.split("\n")[0]}`);
  }
  const names = new Set(plan.containers.map((c) => c.name));
  const running = docker(["ps", "--format", "{{.Names}}"], env).split("\n").map((n) => n.trim()).filter((n) => names.has(n));
  if (running.length === 0) {
    throw new TopError(`no container of stack ${plan.stack} is running on ${engine}: deploy it first (cdktf deploy), or set DOCKER_HOST to the engine it runs on`);
  }
  const exec = (name: string, args: readonly string[]) => {
    if (!running.includes(name)) throw new Error(`${name} is not running`);
    return docker(["exec", name, ...args], env);
  };
  const each = <T>(servers: readonly { key: string; name: string }[], read: (name: string) => T) => Object.fromEntries(servers.map((s) => [s.key, attempt(() => read(s.name))]));
  return {
    engine,
    running,
    postgres: each(plan.databases, (name) => parsePgActivity(exec(name, ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-AtF", "\t", "-c", PG_ACTIVITY]))),
    redis: each(plan.redis, (name) => parseRedisClients(exec(name, ["sh", "-c", `redis-cli --no-auth-warning -a "$${ENV.redisPassword}" CLIENT LIST`]))),
    rabbitmq: each(plan.rabbitmq, (name) => parseRabbitConnections(exec(name, ["rabbitmqctl", "--silent", "list_connections", "peer_host"]))),
    haproxy: each(plan.loadBalancers, (name) => {
      const lb = plan.loadBalancers.find((l) => l.name === name)!;
      return parseHaproxyStats(exec(name, ["bash", "-c", HAPROXY_STATS, "bash", String(lb.statsPort), lb.statsUser]));
    }),
    memory: attempt(() => parseDockerStats(docker(["stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", ...running], env, 60_000))),
  };
}
