/**
 * pgbouncer.ini for PgBouncer 1.18: one pooled database for writes (the primary) and one for
 * reads (the first replica), SCRAM towards clients and servers. The user list with the password is
 * written by the start script from the environment, never rendered.
 */

export const PGBOUNCER_DIR = "/etc/pgbouncer";
export const PGBOUNCER_PORT = 6432;
export const PGBOUNCER_USERLIST = "/tmp/pgbouncer-userlist.txt";
/** `server_lifetime` and `server_idle_timeout`, s: how long PgBouncer keeps a server connection. */
export const PGBOUNCER_SERVER_LIFETIME_S = 3600;
export const PGBOUNCER_SERVER_IDLE_TIMEOUT_S = 600;
/** `reserve_pool_timeout`, s: a client that waited this long for a server connection gets one from the reserve pool. */
export const PGBOUNCER_RESERVE_POOL_TIMEOUT_S = 3;

export interface PgbouncerConfig {
  readonly databases: readonly { readonly name: string; readonly host: string; readonly port: number; readonly dbname: string }[];
  readonly mode: "transaction" | "session";
  readonly maxClientConn: number;
  readonly defaultPoolSize: number;
  readonly reservePoolSize: number;
  /** A hard cap per database, over all its users' pools. */
  readonly maxDbConnections: number;
  /** `server_login_retry`, s. @default PgBouncer's 15 */
  readonly serverLoginRetrySeconds?: number;
  /** `stats_users`: who may read SHOW on the admin console (the metrics exporter). @default none */
  readonly statsUsers?: readonly string[];
}

export function renderPgbouncerIni(c: PgbouncerConfig): string {
  return [
    "; Rendered by cdktf-webstack for PgBouncer 1.18. Edit the stack, not this file.",
    "[databases]",
    ...c.databases.map((d) => `${d.name} = host=${d.host} port=${d.port} dbname=${d.dbname}`),
    "",
    "[pgbouncer]",
    "listen_addr = 0.0.0.0",
    `listen_port = ${PGBOUNCER_PORT}`,
    "unix_socket_dir =",
    "auth_type = scram-sha-256",
    `auth_file = ${PGBOUNCER_USERLIST}`,
    `pool_mode = ${c.mode}`,
    `max_client_conn = ${c.maxClientConn}`,
    `default_pool_size = ${c.defaultPoolSize}`,
    `reserve_pool_size = ${c.reservePoolSize}`,
    `reserve_pool_timeout = ${PGBOUNCER_RESERVE_POOL_TIMEOUT_S}`,
    "; A hard cap per database, so the pools can never exceed what the budget counted.",
    `max_db_connections = ${c.maxDbConnections}`,
    `server_lifetime = ${PGBOUNCER_SERVER_LIFETIME_S}`,
    `server_idle_timeout = ${PGBOUNCER_SERVER_IDLE_TIMEOUT_S}`,
    ...(c.serverLoginRetrySeconds === undefined ? [] : [`server_login_retry = ${c.serverLoginRetrySeconds}`]),
    ...(c.statsUsers && c.statsUsers.length > 0 ? ["; SHOW on the admin console only (the metrics exporter); no admin_users.", `stats_users = ${c.statsUsers.join(", ")}`] : []),
    "ignore_startup_parameters = extra_float_digits",
    "log_connections = 0",
    "log_disconnections = 0",
    "",
  ].join("\n");
}

/** The user list's entries: the app's user, and the exporter's stats user in a monitored stack. */
export function renderPgbouncerStart(user: string, passwordEnv: string, stats?: { readonly user: string; readonly passwordEnv: string }): string {
  const users = [{ user, passwordEnv }, ...(stats ? [stats] : [])];
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. Writes the user list from the environment, then starts PgBouncer.",
    "set -eu",
    ...users.map((u) => `: "\${${u.passwordEnv}:?must be set}"`),
    "umask 077",
    ...users.map((u, i) => `printf '"%s" "%s"\\n' '${u.user}' "$${u.passwordEnv}" ${i === 0 ? ">" : ">>"} ${PGBOUNCER_USERLIST}`),
    `exec pgbouncer ${PGBOUNCER_DIR}/pgbouncer.ini`,
    "",
  ].join("\n");
}
