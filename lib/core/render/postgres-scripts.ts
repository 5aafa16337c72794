/**
 * The PostgreSQL members' scripts in the manual mode: start as primary (fenced against a promoted
 * standby), start as a streaming standby, and promote. (With failover, Patroni starts the server.)
 */
import { PG_BIN, PG_CONF_DIR, PG_DATA, PG_PORT } from "./postgres";

const SCRIPT_HEAD = [
  "#!/bin/sh",
  "# Rendered by cdktf-webstack. Edit the stack, not this file.",
  "set -eu",
  `PATH="${PG_BIN}:$PATH"`,
  `PGDATA="${PG_DATA}"`,
  "export PATH PGDATA",
];

export interface PgStartConfig {
  readonly passwordEnv: string;
  readonly replicationPasswordEnv: string;
  /**
   * The other members to ask before this node starts writable (manual failover mode): when one of them
   * answers as a primary, this node does not start. Unset: no check.
   */
  readonly fence?: { readonly peers: readonly string[]; readonly user: string; readonly database: string };
}

/**
 * Refuses to start writable while another member is a primary: a standby promoted while this node was
 * away (promote.sh) is the primary now, and this one coming back writable would make two. Asked as the
 * application role (pg_hba.conf admits it from the subnet); a member that does not answer within 3 s
 * counts as not primary. Exits after a pause, so `restart = unless-stopped` retries slowly.
 */
function fenceLines(c: PgStartConfig, when: string): string[] {
  const f = c.fence;
  if (!f || f.peers.length === 0) return [];
  return [
    "# Fencing: never a second primary. Ask every other member before starting writable.",
    `if ${when}; then`,
    `  for peer in ${f.peers.join(" ")}; do`,
    `    role=$(PGPASSWORD="$${c.passwordEnv}" PGCONNECT_TIMEOUT=3 psql --no-psqlrc -X -At "host=$peer port=${PG_PORT} user=${f.user} dbname=${f.database}" \\`,
    '      -c "SELECT pg_is_in_recovery()" 2>/dev/null || true)',
    '    if [ "$role" = "f" ]; then',
    '      echo "start.sh: $peer is a primary; not starting this node writable beside it. Rebuild this node as a standby of $peer." >&2',
    "      sleep 10",
    "      exit 1",
    "    fi",
    "  done",
    "fi",
  ];
}

export function renderPgPrimaryStart(c: PgStartConfig): string {
  return [
    ...SCRIPT_HEAD,
    ...fenceLines(c, '[ ! -f "$PGDATA/standby.signal" ]'),
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    `  : "\${${c.passwordEnv}:?must be set}" "\${${c.replicationPasswordEnv}:?must be set}"`,
    "  # First boot: a new cluster, then roles and database from init.sql, with no TCP listener meanwhile",
    "  # and no synchronous standby to wait for (none exists yet).",
    '  initdb --pgdata="$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C',
    `  pg_ctl --pgdata="$PGDATA" --wait --options="-c config_file=${PG_CONF_DIR}/postgresql.conf -c listen_addresses='' -c synchronous_standby_names=''" start`,
    `  psql --no-psqlrc --username=postgres --dbname=postgres --file=${PG_CONF_DIR}/init.sql`,
    '  pg_ctl --pgdata="$PGDATA" --wait --mode=fast stop',
    "fi",
    `exec postgres -D "$PGDATA" -c config_file=${PG_CONF_DIR}/postgresql.conf`,
    "",
  ].join("\n");
}

export interface PgReplicaStartConfig extends PgStartConfig {
  readonly primaryAddress: string;
  readonly replicationUser: string;
  readonly slot: string;
}

export function renderPgReplicaStart(c: PgReplicaStartConfig): string {
  return [
    ...SCRIPT_HEAD,
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    `  : "\${${c.replicationPasswordEnv}:?must be set}"`,
    "  # Probe as the replication role, which pg_hba.conf accepts from the subnet: no FATAL line on the primary.",
    `  until pg_isready --host=${c.primaryAddress} --port=${PG_PORT} --username=${c.replicationUser} --dbname=postgres --quiet; do sleep 1; done`,
    "  # Empty data directory: copy the primary and write standby.signal and primary_conninfo (-R).",
    `  PGPASSWORD="$${c.replicationPasswordEnv}" pg_basebackup --host=${c.primaryAddress} --port=${PG_PORT} \\`,
    `    --username=${c.replicationUser} --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream \\`,
    `    --slot=${c.slot} --checkpoint=fast --no-password`,
    '  chmod 0700 "$PGDATA"',
    "fi",
    // A promoted standby (no standby.signal any more) that restarts asks too.
    ...fenceLines(c, '[ ! -f "$PGDATA/standby.signal" ]'),
    `exec postgres -D "$PGDATA" -c config_file=${PG_CONF_DIR}/postgresql.conf`,
    "",
  ].join("\n");
}

/** Promotes this standby to primary (run it in the replica's container when the primary is lost). */
export function renderPgPromote(): string {
  return [
    ...SCRIPT_HEAD,
    "# Refuse to promote a node that is already a primary.",
    'if [ "$(psql --no-psqlrc -At --username=postgres --dbname=postgres -c "SELECT pg_is_in_recovery()")" != "t" ]; then',
    '  echo "not a standby: nothing to promote" >&2',
    "  exit 1",
    "fi",
    'pg_ctl --pgdata="$PGDATA" --wait promote',
    "",
  ].join("\n");
}
