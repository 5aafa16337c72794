/**
 * PgBouncer in front of a database, and with failover its router: a TCP HAProxy that sends the pools
 * to whichever member Patroni's REST API says leads (GET /primary), the read pool to a standby (GET
 * /replica). The router runs in its own container on the stack network, nothing published: PgBouncer
 * images carry no HAProxy, and a container of its own gets its own memory limit, health and restarts.
 */
import { HAPROXY_EXTRA_FDS, pgbouncerNofile, poolerDatabases, poolerMaxDbConnections, poolerRouterMaxconn } from "../derive";
import { PATRONI_API_PORT, PG_ROUTER_FALL, PG_ROUTER_READ_PORT, PG_ROUTER_RISE, PG_ROUTER_WRITE_PORT, routerCheckIntervalMs } from "../failover";
import { PropsError } from "../errors";
import { databaseSlots } from "../layout";
import { monitoringOf } from "../monitoring";
import { renderPgRouterConfig, type PgRouterListener } from "../render/pg-router";
import { PGBOUNCER_STATS_USER } from "../render/pgbouncer-probe";
import { PGBOUNCER_DIR, PGBOUNCER_PORT, PGBOUNCER_SERVER_LIFETIME_S, renderPgbouncerIni, renderPgbouncerStart } from "../render/pgbouncer";
import { PG_PORT } from "../render/postgres";
import type { DatabaseModel } from "../topology";
import { ENV, databasePassword } from "./clients";
import { cmd, file, nofile, snake, type PlanContext } from "./context";

export const PG_ROUTER_DIR = "/usr/local/etc/haproxy";
const STATS_PASSWORD_ENV = "WEBSTACK_PGBOUNCER_STATS_PASSWORD";

/** The password of the stats user the Monitoring's exporter logs in to this database's PgBouncer as. */
export function pgbouncerStatsPassword(ctx: PlanContext, db: DatabaseModel): string {
  return ctx.secret(`${snake(db.id)}_pgbouncer_stats_password`, `password of PgBouncer's '${PGBOUNCER_STATS_USER}' user (metrics, SHOW only) of ${db.path}`);
}

/** The stats exporter's variable with that password (one per pooler: one exporter reads them all). */
export const pgbouncerStatsPasswordEnv = (db: DatabaseModel) => `${STATS_PASSWORD_ENV}_${snake(db.id).toUpperCase()}`;

export function planPooler(ctx: PlanContext, db: DatabaseModel): void {
  const s = db.settings;
  const p = s.pooler;
  const slots = databaseSlots(db);
  if (!p || !slots.pooler) return;
  // In a monitored stack the exporter reads the admin console as a stats user of its own, named in the user list too.
  const stats = monitoringOf(ctx.topology) ? { user: PGBOUNCER_STATS_USER, passwordEnv: STATS_PASSWORD_ENV } : undefined;
  if (stats && s.user === stats.user) throw new PropsError(db.path, [`user: '${stats.user}' is PgBouncer's stats user of the Monitoring's exporter; choose another name`]);
  const router = slots.router && s.failover ? planRouter(ctx, db) : undefined;
  const hostOf = (server: "primary" | "replica-1") =>
    router
      ? { host: router.address, port: server === "primary" ? PG_ROUTER_WRITE_PORT : PG_ROUTER_READ_PORT }
      : { host: ctx.address(db, server === "primary" ? slots.primary : slots.replicas[0]), port: PG_PORT };
  ctx.container({
    key: slots.pooler.key,
    constructPath: db.path,
    role: "pgbouncer",
    image: p.image,
    command: ["/bin/sh", `${PGBOUNCER_DIR}/start.sh`],
    env: { [ENV.dbPassword]: databasePassword(ctx, db), ...(stats ? { [stats.passwordEnv]: pgbouncerStatsPassword(ctx, db) } : {}) },
    address: ctx.address(db, slots.pooler),
    listens: [{ port: PGBOUNCER_PORT, purpose: "pgbouncer" }],
    files: [
      file(
        `${PGBOUNCER_DIR}/pgbouncer.ini`,
        renderPgbouncerIni({
          databases: poolerDatabases(s).map((d) => ({ name: d.name, ...hostOf(d.server), dbname: s.databaseName })),
          mode: p.mode,
          maxClientConn: p.maxClientConn,
          defaultPoolSize: p.defaultPoolSize,
          reservePoolSize: p.reservePoolSize,
          maxDbConnections: poolerMaxDbConnections(p),
          // Behind the router a failed server login means no member leads yet: retry each second, not after 15 s.
          ...(router ? { serverLoginRetrySeconds: 1 } : {}),
          ...(stats ? { statsUsers: [stats.user] } : {}),
        }),
      ),
      file(`${PGBOUNCER_DIR}/start.sh`, renderPgbouncerStart(s.user, ENV.dbPassword, stats), true),
    ],
    memoryMiB: p.memoryMiB,
    // PgBouncer images are small (Alpine, busybox): nc is the probe they all have.
    healthcheck: cmd("nc", "-z", "127.0.0.1", String(PGBOUNCER_PORT)),
    ulimits: nofile(pgbouncerNofile(p)),
    dependsOn: [router ? router.key : slots.primary.key],
  });
}

function planRouter(ctx: PlanContext, db: DatabaseModel): { key: string; address: string } {
  const s = db.settings;
  const p = s.pooler!;
  const f = s.failover!;
  const slots = databaseSlots(db);
  const slot = slots.router!;
  const address = ctx.address(db, slot);
  const max = poolerRouterMaxconn(s);
  const listeners: PgRouterListener[] = [
    { name: "pg_write", port: PG_ROUTER_WRITE_PORT, check: "/primary", maxconn: max.write },
    ...(max.read > 0 ? [{ name: "pg_read", port: PG_ROUTER_READ_PORT, check: "/replica" as const, maxconn: max.read }] : []),
  ];
  const members = [slots.primary, ...slots.replicas];
  const cfg = renderPgRouterConfig({
    maxconn: max.global,
    listeners,
    servers: members.map((m) => ({ name: m.key, address: ctx.address(db, m), port: PG_PORT })),
    apiPort: PATRONI_API_PORT,
    interMs: routerCheckIntervalMs(f),
    fall: PG_ROUTER_FALL,
    rise: PG_ROUTER_RISE,
    idleTimeoutMs: PGBOUNCER_SERVER_LIFETIME_S * 1000,
  });
  ctx.container({
    key: slot.key,
    constructPath: db.path,
    role: "pg-router",
    image: p.routerImage,
    command: ["haproxy", "-W", "-db", "-f", `${PG_ROUTER_DIR}/haproxy.cfg`],
    user: "haproxy",
    env: {},
    address,
    listens: listeners.map((l) => ({ port: l.port, purpose: `${l.name === "pg_write" ? "writes to the leader" : "reads from a standby"} (PgBouncer's server connections, internal)` })),
    files: [file(`${PG_ROUTER_DIR}/haproxy.cfg`, cfg)],
    memoryMiB: p.routerMemoryMiB,
    // No HTTP client in the haproxy image: check that the write port accepts connections.
    healthcheck: cmd("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${PG_ROUTER_WRITE_PORT}`),
    // As the load balancer's: HAProxy refuses to start below what it computes from maxconn, listeners and checks.
    ulimits: nofile(2 * max.global + HAPROXY_EXTRA_FDS),
    dependsOn: members.map((m) => m.key),
  });
  return { key: slot.key, address };
}
