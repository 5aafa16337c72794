/**
 * Turns the topology into the cluster plan: every container with its rendered files, command,
 * environment, address, memory limit and health check. Pure: the same topology gives the same plan.
 */
import {
  APP_MASTER_RSS_MIB,
  NGINX_WORKER_PROCESSES,
  haproxyNofile,
  databaseTuning,
  haproxyServerTimeoutMs,
  nginxReadTimeoutSeconds,
  memcachedItemMemoryMiB,
  nodeConcurrency,
  primaryStandbySettings,
  rabbitmqWatermarkMiB,
  redisMaxMemoryMiB,
  replicaStandbySettings,
  searchHeapMiB,
  webAppMemoryMiB,
  workerMemoryMiB,
} from "./derive";
import type { ClusterPlan, ContainerSpec, FileSpec, HealthCheckSpec, MountSpec, VolumeSpec } from "./model";
import { blockAddress, gatewayAddress } from "./network";
import { DEFAULT_MAINTENANCE_HTML, renderHaproxyConfig, renderHaproxyErrorPage, type HaproxyBackend } from "./render/haproxy";
import { renderNginxConfig } from "./render/nginx";
import { renderGunicornConfig, renderUwsgiIni, type AppServerConfig } from "./render/appserver";
import {
  PG_CONF_DIR,
  PG_PORT,
  renderPgHbaConf,
  renderPgInitSql,
  renderPgPrimaryStart,
  renderPgPromote,
  renderPgReplicaStart,
  renderPostgresqlConf,
} from "./render/postgres";
import { PGBOUNCER_DIR, PGBOUNCER_PORT, renderPgbouncerIni, renderPgbouncerStart } from "./render/pgbouncer";
import { REDIS_CONF, REDIS_PORT, renderRedisConf, renderRedisStart } from "./render/redis";
import { MEMCACHED_PORT, memcachedCommand } from "./render/memcached";
import {
  RABBITMQ_CONF_DIR,
  RABBITMQ_MANAGEMENT_PORT,
  RABBITMQ_PORT,
  renderRabbitmqConf,
  renderRabbitmqEnabledPlugins,
  renderRabbitmqStart,
} from "./render/rabbitmq";
import { SEARCH_HTTP_PORT, SEARCH_TRANSPORT_PORT, renderJvmHeapOptions, renderSearchYml, searchConfigDir } from "./render/search";
import { FLOWER_PORT, celeryBeatCommand, celeryWorkerCommand, flowerCommand } from "./render/celery";
import { secretRef, type SecretSpec } from "./secrets";
import {
  componentAt,
  componentsOf,
  type CacheModel,
  type ComponentModel,
  type DatabaseModel,
  type LoadBalancerModel,
  type QueueModel,
  type SearchClusterModel,
  type Topology,
  type WebTierModel,
  type Wiring,
  type WorkerTierModel,
} from "./topology";
import { parseSize } from "./units";

export const HAPROXY_DIR = "/usr/local/etc/haproxy";
export const NGINX_PORT = 80;
export const UWSGI_STATS_PORT = 9191;
export const STATIC_ROOT = "/srv/static";
export const REPLICATION_USER = "replicator";
/** Per-server maxconn of static routes: nginx serves files itself, far beyond the app's concurrency (CERN uses 255). */
export const STATIC_MAXCONN = 255;

const SECRET_VALIDATION_NOTE = "at least 16 characters of A-Z a-z 0-9 _ -";

/** Environment variable names the rendered scripts read secrets from. */
export const ENV = {
  haproxyStatsPassword: "HAPROXY_STATS_PASSWORD",
  dbPassword: "WEBSTACK_DB_PASSWORD",
  replicationPassword: "WEBSTACK_REPLICATION_PASSWORD",
  redisPassword: "REDIS_PASSWORD",
  rabbitmqPassword: "RABBITMQ_PASSWORD",
} as const;

const snake = (id: string) => id.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");

/** Terraform variable names of each component's secrets. */
export const secretNames = {
  statsPassword: (lb: LoadBalancerModel) => `${snake(lb.id)}_stats_password`,
  dbPassword: (db: DatabaseModel) => `${snake(db.id)}_password`,
  replicationPassword: (db: DatabaseModel) => `${snake(db.id)}_replication_password`,
  redisPassword: (c: CacheModel | QueueModel) => `${snake(c.id)}_password`,
  rabbitmqPassword: (q: QueueModel) => `${snake(q.id)}_password`,
};

const cmd = (...test: string[]): HealthCheckSpec => ({ test: ["CMD", ...test], intervalSeconds: 10, timeoutSeconds: 5, retries: 3, startPeriodSeconds: 10 });
const shell = (script: string, startPeriodSeconds = 10): HealthCheckSpec => ({
  test: ["CMD-SHELL", script],
  intervalSeconds: 10,
  timeoutSeconds: 5,
  retries: 3,
  startPeriodSeconds,
});
const file = (path: string, content: string, executable = false): FileSpec => ({ path, content, executable });

interface Ctx {
  readonly topology: Topology;
  readonly blockOf: Map<string, number>;
  readonly containers: ContainerSpec[];
  readonly volumes: VolumeSpec[];
  readonly secrets: Map<string, SecretSpec>;
}

function addressOf(ctx: Ctx, component: ComponentModel, index: number): string {
  const block = ctx.blockOf.get(component.path);
  if (block === undefined) throw new Error(`internal: no address block for ${component.path}`);
  return blockAddress(ctx.topology.settings.subnet, block, index);
}

function useSecret(ctx: Ctx, name: string, description: string): string {
  ctx.secrets.set(name, { name, description: `${description} (${SECRET_VALIDATION_NOTE})` });
  return secretRef(name);
}

function volume(ctx: Ctx, component: ComponentModel, key: string, path: string, readOnly = false): MountSpec {
  if (!ctx.volumes.some((v) => v.key === key)) {
    ctx.volumes.push({ key, name: `${ctx.topology.prefix}-${key}`, constructPath: component.path });
  }
  return { volume: key, path, readOnly };
}

function container(
  ctx: Ctx,
  spec: Omit<ContainerSpec, "name" | "sysctls" | "ulimits" | "publishes" | "aliases" | "mounts" | "stopTimeoutSeconds" | "dependsOn"> & Partial<ContainerSpec>,
): ContainerSpec {
  const full: ContainerSpec = {
    name: `${ctx.topology.prefix}-${spec.key}`,
    dependsOn: [],
    sysctls: {},
    ulimits: [],
    publishes: [],
    aliases: [spec.key],
    mounts: [],
    stopTimeoutSeconds: 30,
    ...spec,
  };
  ctx.containers.push(full);
  return full;
}

// ---------------------------------------------------------------- connection settings for clients

/** The pooler sits at the end of its database's address block, so adding replicas never moves it. */
export const POOLER_INDEX = 244;

function databaseEnv(ctx: Ctx, db: DatabaseModel, poolSize: { poolSize: number; maxOverflow: number }): Record<string, string> {
  const s = db.settings;
  const password = useSecret(ctx, secretNames.dbPassword(db), `password of the '${s.user}' role of ${db.path}`);
  const pool = { DB_POOL_SIZE: String(poolSize.poolSize), DB_MAX_OVERFLOW: String(poolSize.maxOverflow) };
  if (s.pooler) {
    const bouncer = `${addressOf(ctx, db, POOLER_INDEX)}:${PGBOUNCER_PORT}`;
    return {
      DATABASE_URL: `postgresql://${s.user}:${password}@${bouncer}/${s.databaseName}`,
      ...(s.replicas > 0 ? { DATABASE_REPLICA_URL: `postgresql://${s.user}:${password}@${bouncer}/${s.databaseName}_ro` } : {}),
      ...pool,
    };
  }
  const hosts = [0, ...Array.from({ length: s.replicas }, (_, i) => i + 1)].map((i) => `${addressOf(ctx, db, i)}:${PG_PORT}`);
  const env: Record<string, string> = {
    // Every node is listed: after a promotion libpq finds the new primary by itself.
    DATABASE_URL: `postgresql://${s.user}:${password}@${hosts.join(",")}/${s.databaseName}?target_session_attrs=read-write`,
    ...pool,
  };
  if (s.replicas > 0) {
    // Replicas only: a read pool falling back to the primary would double the primary's connections.
    env.DATABASE_REPLICA_URL = `postgresql://${s.user}:${password}@${hosts.slice(1).join(",")}/${s.databaseName}?target_session_attrs=prefer-standby`;
  }
  return env;
}

function cacheEnv(ctx: Ctx, cache: CacheModel): Record<string, string> {
  const address = addressOf(ctx, cache, 0);
  if (cache.settings.engine === "memcached") return { CACHE_URL: `memcached://${address}:${MEMCACHED_PORT}` };
  const password = useSecret(ctx, secretNames.redisPassword(cache), `password of the Redis cache ${cache.path}`);
  return { CACHE_URL: `redis://:${password}@${address}:${REDIS_PORT}/0` };
}

function queueEnv(ctx: Ctx, queue: QueueModel): Record<string, string> {
  const address = addressOf(ctx, queue, 0);
  if (queue.settings.engine === "redis") {
    const password = useSecret(ctx, secretNames.redisPassword(queue), `password of the Redis broker ${queue.path}`);
    return {
      CELERY_BROKER_URL: `redis://:${password}@${address}:${REDIS_PORT}/0`,
      CELERY_RESULT_BACKEND: `redis://:${password}@${address}:${REDIS_PORT}/1`,
    };
  }
  const password = useSecret(ctx, secretNames.rabbitmqPassword(queue), `password of the RabbitMQ user of ${queue.path}`);
  return {
    CELERY_BROKER_URL: `amqp://${queue.settings.user}:${password}@${address}:${RABBITMQ_PORT}/${queue.settings.vhost}`,
    CELERY_RESULT_BACKEND: "rpc://",
  };
}

function searchEnv(ctx: Ctx, search: SearchClusterModel): Record<string, string> {
  const urls = Array.from({ length: search.settings.nodes }, (_, i) => `http://${addressOf(ctx, search, i)}:${SEARCH_HTTP_PORT}`);
  return { SEARCH_URL: urls.join(",") };
}

function clientEnv(ctx: Ctx, wiring: Wiring, pool: { poolSize: number; maxOverflow: number }): Record<string, string> {
  const t = ctx.topology;
  return {
    ...(wiring.database ? databaseEnv(ctx, componentAt(t, wiring.database) as DatabaseModel, pool) : {}),
    ...(wiring.cache ? cacheEnv(ctx, componentAt(t, wiring.cache) as CacheModel) : {}),
    ...(wiring.queue ? queueEnv(ctx, componentAt(t, wiring.queue) as QueueModel) : {}),
    ...(wiring.search ? searchEnv(ctx, componentAt(t, wiring.search) as SearchClusterModel) : {}),
  };
}

/** Containers a client of `wiring` should start after: the primary, the cache, the broker, the search nodes. */
function serviceKeys(ctx: Ctx, wiring: Wiring): string[] {
  const t = ctx.topology;
  const keys: string[] = [];
  if (wiring.database) {
    const db = componentAt(t, wiring.database) as DatabaseModel;
    keys.push(`${db.id}-${db.settings.pooler ? "pooler" : "primary"}`);
  }
  if (wiring.cache) keys.push(componentAt(t, wiring.cache).id);
  if (wiring.queue) keys.push(componentAt(t, wiring.queue).id);
  if (wiring.search) {
    const search = componentAt(t, wiring.search) as SearchClusterModel;
    keys.push(...Array.from({ length: search.settings.nodes }, (_, i) => `${search.id}-${i + 1}`));
  }
  return keys;
}

// ---------------------------------------------------------------- components

/** The web tier lays out two containers per node: nginx at index 2n, the app server at 2n+1 (planned first: nginx depends on it). */
export function webNodeAddresses(subnet: string, block: number, node: number): { nginx: string; app: string } {
  return { nginx: blockAddress(subnet, block, 2 * node), app: blockAddress(subnet, block, 2 * node + 1) };
}

function planWebTier(ctx: Ctx, tier: WebTierModel): void {
  const s = tier.settings;
  const block = ctx.blockOf.get(tier.path)!;
  const maxBodyBytes = Math.max(parseSize(s.clientMaxBodySize), ...s.uploadRoutes.map((r) => parseSize(r.maxBodySize)));
  const env = {
    ...clientEnv(ctx, tier, { poolSize: s.poolSize, maxOverflow: s.maxOverflow }),
    ...s.environment,
  };
  for (let n = 0; n < s.nodes; n++) {
    const key = `${tier.id}-${n + 1}`;
    const addr = webNodeAddresses(ctx.topology.settings.subnet, block, n);
    const staticVolume = `${key}-static`;
    const app: AppServerConfig = {
      wsgiModule: s.wsgiModule,
      port: s.appPort,
      processes: s.processes,
      threads: s.threads,
      maxRequests: s.maxRequests,
      timeoutSeconds: s.requestTimeoutSeconds,
      listenBacklog: s.listenBacklog,
      maxBodyBytes,
      plugins: s.uwsgiPlugins,
      statsPort: UWSGI_STATS_PORT,
      forwardedAllowIps: addr.nginx,
    };
    const appFile = s.server === "uwsgi" ? file("/etc/webstack/uwsgi.ini", renderUwsgiIni(app)) : file("/etc/webstack/gunicorn.conf.py", renderGunicornConfig(app));
    const probe =
      s.server === "uwsgi"
        ? `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${UWSGI_STATS_PORT}/", timeout=4)`
        : `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${s.appPort}/ping", timeout=4)`;
    container(ctx, {
      key: `${key}-app`,
      constructPath: tier.path,
      role: s.server,
      image: s.image,
      command: s.server === "uwsgi" ? ["uwsgi", "--ini", appFile.path] : ["gunicorn", "--config", appFile.path],
      env,
      address: addr.app,
      listens: [
        { port: s.appPort, purpose: s.server },
        ...(s.server === "uwsgi" ? [{ port: UWSGI_STATS_PORT, purpose: "uwsgi stats" }] : []),
      ],
      files: [appFile],
      // Docker fills an empty named volume from the image on first mount: nginx then serves the app's files.
      mounts: [volume(ctx, tier, staticVolume, s.staticDir)],
      dependsOn: serviceKeys(ctx, tier),
      memoryMiB: webAppMemoryMiB(s),
      healthcheck: { ...cmd("python3", "-c", probe), startPeriodSeconds: 30 },
      sysctls: { "net.core.somaxconn": String(Math.max(4096, s.listenBacklog)) },
    });
    container(ctx, {
      key: `${key}-nginx`,
      constructPath: tier.path,
      role: "nginx",
      image: s.nginxImage,
      command: ["nginx", "-g", "daemon off;", "-c", "/etc/nginx/nginx.conf"],
      env: {},
      address: addr.nginx,
      listens: [{ port: NGINX_PORT, purpose: "http" }],
      files: [
        file(
          "/etc/nginx/nginx.conf",
          renderNginxConfig({
            workerProcesses: NGINX_WORKER_PROCESSES,
            workerConnections: s.nginxWorkerConnections,
            nofile: s.nginxNofileLimit,
            upstream: { protocol: s.server === "uwsgi" ? "uwsgi" : "http", address: addr.app, port: s.appPort, keepalive: nodeConcurrency(s) },
            staticUrlPath: s.staticUrlPath,
            staticRoot: STATIC_ROOT,
            clientMaxBodySize: s.clientMaxBodySize,
            uploadRoutes: s.uploadRoutes,
            readTimeoutSeconds: nginxReadTimeoutSeconds(s),
            trustedProxies: ctx.topology.settings.subnet,
          }),
        ),
      ],
      mounts: [volume(ctx, tier, staticVolume, STATIC_ROOT, true)],
      dependsOn: [`${key}-app`],
      memoryMiB: s.nginxMemoryMiB,
      // Through nginx to the app: a node is healthy only when both answer.
      healthcheck: cmd("curl", "--fail", "--silent", "--output", "/dev/null", "--max-time", "4", "http://127.0.0.1/ping"),
      ulimits: [{ name: "nofile", soft: s.nginxNofileLimit, hard: s.nginxNofileLimit }],
    });
  }
}

function planWorkerTier(ctx: Ctx, tier: WorkerTierModel): void {
  const s = tier.settings;
  const env = { ...clientEnv(ctx, tier, { poolSize: s.poolSize, maxOverflow: s.maxOverflow }), ...s.environment };
  let index = 0;
  for (let n = 0; n < s.nodes; n++) {
    const key = `${tier.id}-${n + 1}`;
    container(ctx, {
      key,
      constructPath: tier.path,
      role: "celery-worker",
      image: s.image,
      command: celeryWorkerCommand({
        app: s.celeryApp,
        nodeName: key,
        concurrency: s.concurrency,
        prefetchMultiplier: s.prefetchMultiplier,
        maxTasksPerChild: s.maxTasksPerChild,
        queues: s.queues,
      }),
      env,
      address: addressOf(ctx, tier, index++),
      listens: [],
      files: [],
      memoryMiB: workerMemoryMiB(s),
      dependsOn: serviceKeys(ctx, tier),
      healthcheck: shell(`celery --app=${s.celeryApp} inspect ping --destination=${key}@$(hostname) --timeout=5 | grep -q pong`, 30),
      stopTimeoutSeconds: 60,
    });
  }
  if (s.beat) {
    container(ctx, {
      key: `${tier.id}-beat`,
      constructPath: tier.path,
      role: "celery-beat",
      image: s.image,
      command: celeryBeatCommand(s.celeryApp),
      env,
      address: addressOf(ctx, tier, index++),
      listens: [],
      files: [],
      memoryMiB: Math.ceil((s.processRssMiB * 1.25) / 64) * 64,
      healthcheck: shell("ls /tmp/celerybeat-schedule* >/dev/null 2>&1", 30),
      dependsOn: serviceKeys(ctx, tier),
    });
  }
  if (s.flower) {
    container(ctx, {
      key: `${tier.id}-flower`,
      constructPath: tier.path,
      role: "flower",
      image: s.flowerImage ?? s.image,
      command: flowerCommand(s.celeryApp),
      env,
      address: addressOf(ctx, tier, index++),
      listens: [{ port: FLOWER_PORT, purpose: "flower (internal)" }],
      files: [],
      memoryMiB: 256,
      healthcheck: cmd("python3", "-c", `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${FLOWER_PORT}/healthcheck", timeout=4)`),
    });
  }
}

export function replicaSlotName(db: DatabaseModel, replica: number): string {
  return `${snake(db.id)}_replica_${replica}`;
}

function planDatabase(ctx: Ctx, db: DatabaseModel): void {
  const s = db.settings;
  const tuning = databaseTuning(s);
  const password = useSecret(ctx, secretNames.dbPassword(db), `password of the '${s.user}' role of ${db.path}`);
  const replicationPassword = useSecret(ctx, secretNames.replicationPassword(db), `password of the replication role of ${db.path}`);
  const env = { [ENV.dbPassword]: password, [ENV.replicationPassword]: replicationPassword };
  const slots = Array.from({ length: s.replicas }, (_, i) => replicaSlotName(db, i + 1));
  const confFor = (role: "primary" | "replica", clusterName: string) =>
    renderPostgresqlConf({
      role,
      clusterName,
      synchronousStandbys: slots,
      synchronousCount: s.synchronousReplicas,
      standby: role === "primary" ? primaryStandbySettings(s) : replicaStandbySettings(s),
      superuserReservedConnections: s.superuserReservedConnections,
      maxReplicationSlots: tuning.maxReplicationSlots,
      sharedBuffersMiB: tuning.sharedBuffersMiB,
      workMemMiB: tuning.workMemMiB,
      maintenanceWorkMemMiB: tuning.maintenanceWorkMemMiB,
      effectiveCacheSizeMiB: tuning.effectiveCacheSizeMiB,
      slowQueryMs: s.slowQueryMs,
    });
  const hba = renderPgHbaConf({ subnet: ctx.topology.settings.subnet, database: s.databaseName, user: s.user, replicationUser: REPLICATION_USER });
  const start = { passwordEnv: ENV.dbPassword, replicationPasswordEnv: ENV.replicationPassword };
  // Through the socket, which pg_hba.conf allows by peer authentication; a TCP probe from 127.0.0.1
  // would be rejected (and logged as FATAL) every ten seconds.
  const health = shell(`PATH=/usr/lib/postgresql/15/bin:$PATH pg_isready --host=/var/run/postgresql --port=${PG_PORT} --quiet`, 30);
  const primaryAddress = addressOf(ctx, db, 0);

  container(ctx, {
    key: `${db.id}-primary`,
    constructPath: db.path,
    role: "postgres-primary",
    image: s.image,
    command: ["/bin/sh", `${PG_CONF_DIR}/start.sh`],
    user: "postgres",
    env,
    address: primaryAddress,
    listens: [{ port: PG_PORT, purpose: "postgresql" }],
    files: [
      file(`${PG_CONF_DIR}/postgresql.conf`, confFor("primary", `${snake(db.id)}_primary`)),
      file(`${PG_CONF_DIR}/pg_hba.conf`, hba),
      file(
        `${PG_CONF_DIR}/init.sql`,
        renderPgInitSql({ database: s.databaseName, user: s.user, replicationUser: REPLICATION_USER, passwordEnv: ENV.dbPassword, replicationPasswordEnv: ENV.replicationPassword, replicationSlots: slots }),
      ),
      file(`${PG_CONF_DIR}/start.sh`, renderPgPrimaryStart(start), true),
    ],
    mounts: [volume(ctx, db, `${db.id}-primary-data`, "/var/lib/postgresql/data")],
    memoryMiB: s.memoryMiB,
    healthcheck: health,
    stopTimeoutSeconds: 60,
  });
  if (s.pooler) {
    const p = s.pooler;
    container(ctx, {
      key: `${db.id}-pooler`,
      constructPath: db.path,
      role: "pgbouncer",
      image: p.image,
      command: ["/bin/sh", `${PGBOUNCER_DIR}/start.sh`],
      env: { [ENV.dbPassword]: password },
      address: addressOf(ctx, db, POOLER_INDEX),
      listens: [{ port: PGBOUNCER_PORT, purpose: "pgbouncer" }],
      files: [
        file(
          `${PGBOUNCER_DIR}/pgbouncer.ini`,
          renderPgbouncerIni({
            databases: [
              { name: s.databaseName, host: primaryAddress, port: PG_PORT, dbname: s.databaseName },
              ...(s.replicas > 0 ? [{ name: `${s.databaseName}_ro`, host: addressOf(ctx, db, 1), port: PG_PORT, dbname: s.databaseName }] : []),
            ],
            mode: p.mode,
            maxClientConn: p.maxClientConn,
            defaultPoolSize: p.defaultPoolSize,
            reservePoolSize: p.reservePoolSize,
          }),
        ),
        file(`${PGBOUNCER_DIR}/start.sh`, renderPgbouncerStart(s.user, ENV.dbPassword), true),
      ],
      memoryMiB: p.memoryMiB,
      // PgBouncer images are small (Alpine, busybox): nc is the probe they all have.
      healthcheck: cmd("nc", "-z", "127.0.0.1", String(PGBOUNCER_PORT)),
      ulimits: [{ name: "nofile", soft: p.maxClientConn + 2 * (p.defaultPoolSize + p.reservePoolSize) * 2 + 64, hard: p.maxClientConn + 2 * (p.defaultPoolSize + p.reservePoolSize) * 2 + 64 }],
      dependsOn: [`${db.id}-primary`],
    });
  }
  for (let r = 1; r <= s.replicas; r++) {
    container(ctx, {
      key: `${db.id}-replica-${r}`,
      constructPath: db.path,
      role: "postgres-replica",
      image: s.image,
      command: ["/bin/sh", `${PG_CONF_DIR}/start.sh`],
      user: "postgres",
      env,
      address: addressOf(ctx, db, r),
      listens: [{ port: PG_PORT, purpose: "postgresql (hot standby)" }],
      files: [
        file(`${PG_CONF_DIR}/postgresql.conf`, confFor("replica", replicaSlotName(db, r))),
        file(`${PG_CONF_DIR}/pg_hba.conf`, hba),
        file(
          `${PG_CONF_DIR}/start.sh`,
          renderPgReplicaStart({ ...start, primaryAddress, replicationUser: REPLICATION_USER, slot: replicaSlotName(db, r) }),
          true,
        ),
        file(`${PG_CONF_DIR}/promote.sh`, renderPgPromote(), true),
      ],
      mounts: [volume(ctx, db, `${db.id}-replica-${r}-data`, "/var/lib/postgresql/data")],
      memoryMiB: s.memoryMiB,
      healthcheck: { ...health, startPeriodSeconds: 120 },
      dependsOn: [`${db.id}-primary`],
      stopTimeoutSeconds: 60,
    });
  }
}

function redisContainer(ctx: Ctx, component: CacheModel | QueueModel, purpose: "cache" | "broker", maxClients: number, memoryMiB: number, image: string): void {
  const password = useSecret(ctx, secretNames.redisPassword(component), `password of the Redis ${purpose} ${component.path}`);
  container(ctx, {
    key: component.id,
    constructPath: component.path,
    role: "redis",
    image,
    command: ["/bin/sh", "/usr/local/etc/redis/start.sh"],
    user: "redis",
    env: { [ENV.redisPassword]: password },
    address: addressOf(ctx, component, 0),
    listens: [{ port: REDIS_PORT, purpose: `redis ${purpose}` }],
    files: [
      file(REDIS_CONF, renderRedisConf({ purpose, maxMemoryMiB: redisMaxMemoryMiB(memoryMiB), evictionPolicy: component.kind === "cache" ? component.settings.evictionPolicy : "noeviction", maxClients })),
      file("/usr/local/etc/redis/start.sh", renderRedisStart(ENV.redisPassword), true),
    ],
    mounts: purpose === "broker" ? [volume(ctx, component, `${component.id}-data`, "/data")] : [],
    memoryMiB,
    healthcheck: shell(`redis-cli --no-auth-warning -a "$${ENV.redisPassword}" ping | grep -q PONG`),
  });
}

function planCache(ctx: Ctx, cache: CacheModel): void {
  const s = cache.settings;
  if (s.engine === "redis") {
    redisContainer(ctx, cache, "cache", s.maxClients, s.memoryMiB, s.image ?? "redis:7.0");
    return;
  }
  container(ctx, {
    key: cache.id,
    constructPath: cache.path,
    role: "memcached",
    image: s.image ?? "memcached:1.6",
    command: memcachedCommand({ itemMemoryMiB: memcachedItemMemoryMiB(s), maxConnections: s.maxClients, threads: 4 }),
    user: "memcache",
    env: {},
    address: addressOf(ctx, cache, 0),
    listens: [{ port: MEMCACHED_PORT, purpose: "memcached" }],
    files: [],
    memoryMiB: s.memoryMiB,
    healthcheck: cmd("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${MEMCACHED_PORT} && printf 'version\\r\\n' >&3 && head -c 8 <&3 | grep -q VERSION`),
  });
}

function planQueue(ctx: Ctx, queue: QueueModel): void {
  const s = queue.settings;
  if (s.engine === "redis") {
    redisContainer(ctx, queue, "broker", s.maxConnections, s.memoryMiB, s.image ?? "redis:7.0");
    return;
  }
  const password = useSecret(ctx, secretNames.rabbitmqPassword(queue), `password of the RabbitMQ user of ${queue.path}`);
  const conf = { vhost: s.vhost, user: s.user, connectionMax: s.maxConnections, watermarkBytes: rabbitmqWatermarkMiB(s) * 1024 * 1024, managementUi: s.managementUi };
  container(ctx, {
    key: queue.id,
    constructPath: queue.path,
    role: "rabbitmq",
    image: s.image ?? "rabbitmq:3.10",
    command: ["/bin/sh", `${RABBITMQ_CONF_DIR}/start.sh`],
    user: "rabbitmq",
    env: { [ENV.rabbitmqPassword]: password, RABBITMQ_NODENAME: `rabbit@${queue.id}` },
    address: addressOf(ctx, queue, 0),
    listens: [
      { port: RABBITMQ_PORT, purpose: "amqp" },
      ...(s.managementUi ? [{ port: RABBITMQ_MANAGEMENT_PORT, purpose: "management UI (internal)" }] : []),
    ],
    files: [
      file(`${RABBITMQ_CONF_DIR}/rabbitmq.conf`, renderRabbitmqConf(conf)),
      file(`${RABBITMQ_CONF_DIR}/enabled_plugins`, renderRabbitmqEnabledPlugins(conf)),
      file(`${RABBITMQ_CONF_DIR}/start.sh`, renderRabbitmqStart(ENV.rabbitmqPassword), true),
    ],
    mounts: [volume(ctx, queue, `${queue.id}-data`, "/var/lib/rabbitmq")],
    memoryMiB: s.memoryMiB,
    healthcheck: { ...cmd("rabbitmq-diagnostics", "--quiet", "ping"), intervalSeconds: 15, timeoutSeconds: 10, startPeriodSeconds: 60 },
    stopTimeoutSeconds: 60,
  });
}

function planSearch(ctx: Ctx, search: SearchClusterModel): void {
  const s = search.settings;
  const dir = searchConfigDir(s.engine);
  const nodeNames = Array.from({ length: s.nodes }, (_, i) => `${search.id}-${i + 1}`);
  const addresses = nodeNames.map((_, i) => addressOf(ctx, search, i));
  const heap = searchHeapMiB(s);
  nodeNames.forEach((nodeName, i) => {
    container(ctx, {
      key: nodeName,
      constructPath: search.path,
      role: s.engine,
      image: s.image ?? (s.engine === "elasticsearch" ? "elasticsearch:7.17.25" : "opensearchproject/opensearch:2.17.1"),
      command: [s.engine === "elasticsearch" ? "/usr/share/elasticsearch/bin/elasticsearch" : "/usr/share/opensearch/bin/opensearch"],
      user: s.engine,
      env: {},
      address: addresses[i],
      listens: [
        { port: SEARCH_HTTP_PORT, purpose: "http" },
        { port: SEARCH_TRANSPORT_PORT, purpose: "transport" },
      ],
      files: [
        file(
          `${dir}/${s.engine}.yml`,
          renderSearchYml({ engine: s.engine, clusterName: s.clusterName ?? search.id, nodeName, seedHosts: addresses.map((a) => `${a}:${SEARCH_TRANSPORT_PORT}`), initialMasters: nodeNames, heapMiB: heap }),
        ),
        file(`${dir}/jvm.options.d/heap.options`, renderJvmHeapOptions(heap)),
      ],
      mounts: [volume(ctx, search, `${nodeName}-data`, `/usr/share/${s.engine}/data`)],
      memoryMiB: s.memoryMiB,
      healthcheck: shell(`curl --fail --silent --max-time 4 'http://127.0.0.1:${SEARCH_HTTP_PORT}/_cluster/health?wait_for_status=yellow&timeout=3s' >/dev/null`, 90),
      ulimits: [{ name: "nofile", soft: 65535, hard: 65535 }],
      stopTimeoutSeconds: 60,
    });
  });
}

/** Per-server maxconn of a route: what one node can serve at once, unless overridden. */
export function routeMaxconn(route: LoadBalancerModel["routes"][number], target: WebTierModel): number {
  return route.maxconnPerServer ?? (route.serves === "static" ? STATIC_MAXCONN : nodeConcurrency(target.settings));
}

function planLoadBalancer(ctx: Ctx, lb: LoadBalancerModel): void {
  const s = lb.settings;
  const t = ctx.topology;
  const serversOf = (tierPath: string, maxconn: number, backup: boolean) => {
    const tier = componentAt(t, tierPath) as WebTierModel;
    const block = ctx.blockOf.get(tier.path)!;
    return Array.from({ length: tier.settings.nodes }, (_, n) => ({
      name: `${tier.id}-${n + 1}`,
      address: webNodeAddresses(t.settings.subnet, block, n).nginx,
      port: NGINX_PORT,
      maxconn,
      backup,
    }));
  };
  const backends: HaproxyBackend[] = lb.routes.map((route) => {
    const target = componentAt(t, route.target) as WebTierModel;
    const maxconn = routeMaxconn(route, target);
    return {
      name: route.name,
      pathPrefixes: route.pathPrefixes,
      balance: s.balance,
      maxqueue: s.maxqueue,
      serverTimeoutMs: haproxyServerTimeoutMs(s.timeouts.server, target.settings),
      servers: [...serversOf(route.target, maxconn, false), ...(route.backup ? serversOf(route.backup, maxconn, true) : [])],
    };
  });
  const certificatePath = `${HAPROXY_DIR}/certs/site.pem`;
  const files = [
    file(
      `${HAPROXY_DIR}/haproxy.cfg`,
      renderHaproxyConfig({
        maxconn: s.maxconn,
        httpPort: 80,
        https: s.https ? { port: 443, certificatePath, redirectHttp: s.https.redirectHttp } : undefined,
        health: s.healthCheck,
        timeouts: s.timeouts,
        statsPort: s.statsPort,
        statsUser: s.statsUser,
        statsPasswordEnv: ENV.haproxyStatsPassword,
        errorFile503: `${HAPROXY_DIR}/errors/503.http`,
        backends,
      }),
    ),
    file(`${HAPROXY_DIR}/errors/503.http`, renderHaproxyErrorPage(s.maintenanceHtml ?? DEFAULT_MAINTENANCE_HTML)),
    ...(lb.certificatePem ? [file(certificatePath, lb.certificatePem)] : []),
  ];
  const statsPassword = useSecret(ctx, secretNames.statsPassword(lb), `password of the HAProxy stats page of ${lb.path}`);
  if (s.https?.certificateVariable) {
    ctx.secrets.set(s.https.certificateVariable, { name: s.https.certificateVariable, description: `PEM bundle (certificate, chain, key) of ${lb.path}` });
  }
  container(ctx, {
    key: lb.id,
    constructPath: lb.path,
    role: "haproxy",
    image: s.image,
    command: ["haproxy", "-W", "-db", "-f", `${HAPROXY_DIR}/haproxy.cfg`],
    user: "haproxy",
    env: { [ENV.haproxyStatsPassword]: statsPassword },
    address: addressOf(ctx, lb, 0),
    listens: [
      { port: 80, purpose: "http" },
      ...(s.https ? [{ port: 443, purpose: "https" }] : []),
      { port: s.statsPort, purpose: "stats (internal)" },
    ],
    publishes: [
      { containerPort: 80, hostPort: s.httpPort, hostIp: s.bindAddress },
      ...(s.https ? [{ containerPort: 443, hostPort: s.https.port, hostIp: s.bindAddress }] : []),
    ],
    files,
    memoryMiB: s.memoryMiB,
    // No HTTP client in the haproxy image: check that the stats port accepts connections.
    healthcheck: cmd("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${s.statsPort}`),
    // Lets the unprivileged haproxy user bind 80 and 443 inside its own network namespace.
    sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
    ulimits: [{ name: "nofile", soft: haproxyNofile(s), hard: haproxyNofile(s) }],
    dependsOn: backends.flatMap((b) => b.servers.map((srv) => `${srv.name}-nginx`)).filter((k, i, all) => all.indexOf(k) === i),
  });
}

export function planCluster(topology: Topology): ClusterPlan {
  const ctx: Ctx = {
    topology,
    blockOf: new Map(topology.components.map((c, i) => [c.path, i + 1])),
    containers: [],
    volumes: [],
    secrets: new Map(),
  };
  // Servers first, then their clients, so the plan reads top-down from the data to the edge.
  const order: ComponentModel["kind"][] = ["database", "cache", "queue", "searchCluster", "webTier", "workerTier", "loadBalancer"];
  for (const kind of order) {
    for (const c of componentsOf(topology, kind)) {
      switch (c.kind) {
        case "database": planDatabase(ctx, c); break;
        case "cache": planCache(ctx, c); break;
        case "queue": planQueue(ctx, c); break;
        case "searchCluster": planSearch(ctx, c); break;
        case "webTier": planWebTier(ctx, c); break;
        case "workerTier": planWorkerTier(ctx, c); break;
        case "loadBalancer": planLoadBalancer(ctx, c); break;
      }
    }
  }
  return {
    network: { name: `${topology.prefix}-net`, subnet: topology.settings.subnet, gateway: gatewayAddress(topology.settings.subnet) },
    volumes: ctx.volumes,
    containers: ctx.containers,
    secrets: [...ctx.secrets.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export { APP_MASTER_RSS_MIB };
