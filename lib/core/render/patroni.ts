/**
 * Patroni 3.0 files of one PostgreSQL member: patroni.yml, the start script and the post-bootstrap
 * script. The settings Patroni passes on PostgreSQL's command line (the hot-standby ones among them)
 * come from `bootstrap.dcs`, which every member renders from the same model, so they are equal on
 * every member; the rest is the rendered postgresql.conf, included as Patroni's `custom_conf`.
 * No password is written: Patroni reads them from PATRONI_*_PASSWORD in its environment.
 */
import { PG_BIN, PG_CONF_DIR, PG_DATA, PG_PORT } from "./postgres";

export const PATRONI_DIR = "/etc/patroni";

export interface PatroniConfig {
  /** Patroni's `scope`: the cluster name, also its key prefix in etcd. */
  readonly scope: string;
  /** This member's name (its container key); also its application_name and replication slot. */
  readonly name: string;
  readonly address: string;
  /** Where the REST API listens, when not on `address` (0.0.0.0 on a swarm, where `address` is a DNS name). @default address */
  readonly listenAddress?: string;
  readonly apiPort: number;
  readonly apiUser: string;
  readonly etcdHosts: readonly string[];
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
  readonly maximumLagOnFailover: number;
  /** 0: asynchronous replication. */
  readonly synchronousNodeCount: number;
  readonly synchronousModeStrict: boolean;
  /** The settings Patroni takes from the cluster-wide configuration only, as numbers or strings. */
  readonly clusterParameters: Readonly<Record<string, string | number>>;
  readonly replicationUser: string;
  readonly rewindUser: string;
  /** The rendered pg_hba.conf; its rules are repeated under bootstrap.pg_hba, which Patroni's validator requires. */
  readonly pgHba: string;
}

/** A YAML scalar: numbers and booleans bare, strings double-quoted (JSON strings are YAML). */
const y = (v: string | number | boolean) => (typeof v === "string" ? JSON.stringify(v) : String(v));

export function renderPatroniYml(c: PatroniConfig): string {
  const params = Object.keys(c.clusterParameters).sort();
  return [
    "# Rendered by cdktf-webstack for Patroni 3.0. Edit the stack, not this file.",
    "# Passwords come from PATRONI_REPLICATION_PASSWORD, PATRONI_REWIND_PASSWORD and PATRONI_RESTAPI_PASSWORD.",
    `scope: ${y(c.scope)}`,
    `namespace: "/webstack/"`,
    `name: ${y(c.name)}`,
    "",
    c.listenAddress === undefined
      ? "# The REST API listens on this member's address on the stack network only (no host port)."
      : "# The REST API listens on every address of the task (no host port); the others reach it by the member's name.",
    "# GET /primary answers 200 on the leader only, /replica on a running standby only.",
    "restapi:",
    `  listen: ${y(`${c.listenAddress ?? c.address}:${c.apiPort}`)}`,
    `  connect_address: ${y(`${c.address}:${c.apiPort}`)}`,
    "  authentication:",
    `    username: ${y(c.apiUser)}`,
    "",
    "# The leader lock lives in etcd (v3 API): only its holder runs PostgreSQL writable.",
    "etcd3:",
    "  hosts:",
    ...c.etcdHosts.map((h) => `    - ${y(h)}`),
    "",
    "bootstrap:",
    "  # The cluster-wide configuration, written to etcd by the member that initializes the cluster.",
    "  dcs:",
    `    ttl: ${c.ttl}`,
    `    loop_wait: ${c.loopWait}`,
    `    retry_timeout: ${c.retryTimeout}`,
    `    maximum_lag_on_failover: ${c.maximumLagOnFailover}`,
    ...(c.synchronousNodeCount > 0
      ? [
          "    # A commit returns once a synchronous standby has it, and only such a standby is promoted.",
          "    synchronous_mode: true",
          `    synchronous_mode_strict: ${c.synchronousModeStrict}`,
          `    synchronous_node_count: ${c.synchronousNodeCount}`,
        ]
      : ["    synchronous_mode: false"]),
    "    postgresql:",
    "      # A returning old primary is rewound to the new leader's timeline and follows it.",
    "      use_pg_rewind: true",
    "      remove_data_directory_on_rewind_failure: true",
    "      # One physical slot per member on the leader, kept by Patroni.",
    "      use_slots: true",
    "      parameters:",
    ...params.map((k) => `        ${k}: ${y(c.clusterParameters[k])}`),
    "  initdb:",
    "    - encoding: UTF8",
    "    - locale: C",
    "    - auth-local: peer",
    "    - auth-host: scram-sha-256",
    `  post_bootstrap: ${y(`${PATRONI_DIR}/post-bootstrap.sh`)}`,
    "  # The rules of the rendered pg_hba.conf (hba_file below is what PostgreSQL reads).",
    "  pg_hba:",
    ...c.pgHba
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#"))
      .map((l) => `    - ${y(l.replace(/\s+/g, " "))}`),
    "",
    "postgresql:",
    `  listen: ${y(`*:${PG_PORT}`)}`,
    `  connect_address: ${y(`${c.address}:${PG_PORT}`)}`,
    `  data_dir: ${y(PG_DATA)}`,
    `  bin_dir: ${y(PG_BIN)}`,
    "  # Every other setting: the same postgresql.conf the manual mode renders (as a standby's).",
    `  custom_conf: ${y(`${PG_CONF_DIR}/postgresql.conf`)}`,
    "  # Patroni talks to its own PostgreSQL over the socket, as the postgres user (peer authentication).",
    "  use_unix_socket: true",
    "  authentication:",
    "    superuser:",
    '      username: "postgres"',
    "    replication:",
    `      username: ${y(c.replicationUser)}`,
    "    rewind:",
    `      username: ${y(c.rewindUser)}`,
    "  parameters:",
    `    hba_file: ${y(`${PG_CONF_DIR}/pg_hba.conf`)}`,
    '    unix_socket_directories: "/var/run/postgresql"',
    "  basebackup:",
    "    - checkpoint: fast",
    "",
    "tags:",
    "  nofailover: false",
    "  noloadbalance: false",
    "  clonefrom: false",
    "  nosync: false",
    "",
  ].join("\n");
}

export interface PatroniStartConfig {
  readonly requiredEnv: readonly string[];
}

export function renderPatroniStart(c: PatroniStartConfig): string {
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "set -eu",
    ...c.requiredEnv.map((e) => `: "\${${e}:?must be set}"`),
    `exec patroni ${PATRONI_DIR}/patroni.yml`,
    "",
  ].join("\n");
}

/** Run once by Patroni on the member that initializes the cluster, with a superuser connection URL as $1. */
export function renderPatroniPostBootstrap(): string {
  return [
    "#!/bin/sh",
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "# The application role and database (Patroni itself creates the replication and rewind roles).",
    "set -eu",
    `exec psql --no-psqlrc "$1" --file=${PG_CONF_DIR}/init.sql`,
    "",
  ].join("\n");
}
