/**
 * haproxy.cfg of the pooler's router (HAProxy 2.6, TCP mode), with failover and a pooler: PgBouncer's
 * server connections go through it to whichever member Patroni says leads. Each member's REST API is
 * checked (GET /primary for the write port, GET /replica for the read port), never PostgreSQL itself;
 * a member marked down has its sessions cut, so the pools reconnect to the new leader.
 */

export interface PgRouterServer {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export interface PgRouterListener {
  readonly name: string;
  readonly port: number;
  /** Patroni's endpoint that answers 200 on the members this listener sends to. */
  readonly check: "/primary" | "/replica";
  /** Connections this listener accepts: the PgBouncer pools that reach it. */
  readonly maxconn: number;
}

export interface PgRouterConfig {
  /** Global `maxconn`: every listener's, with room for sessions still closing. */
  readonly maxconn: number;
  readonly listeners: readonly PgRouterListener[];
  readonly servers: readonly PgRouterServer[];
  readonly apiPort: number;
  /** Check interval and `timeout check`, ms. */
  readonly interMs: number;
  readonly fall: number;
  readonly rise: number;
  /** `timeout client` and `timeout server`, ms: longer than a pooled connection sits idle. */
  readonly idleTimeoutMs: number;
}

export function renderPgRouterConfig(c: PgRouterConfig): string {
  const out = [
    "# Rendered by cdktf-webstack for HAProxy 2.6: the pooler's router. Edit the stack, not this file.",
    "global",
    `  maxconn ${c.maxconn}`,
    "  nbthread 1",
    "  log stdout format raw local0 notice",
    "",
    "defaults",
    "  mode tcp",
    "  log global",
    "  option tcplog",
    "  option dontlognull",
    "  # Pooled server connections live long: idle ones are closed by PgBouncer (server_idle_timeout) first.",
    "  timeout connect 3s",
    `  timeout client ${c.idleTimeoutMs}ms`,
    `  timeout server ${c.idleTimeoutMs}ms`,
    `  timeout check ${c.interMs}ms`,
    "  # Keepalives find a peer that vanished (a member cut off the network) on idle connections.",
    "  option clitcpka",
    "  option srvtcpka",
    "  # Patroni's REST API answers the checks; a member marked down has its sessions cut at once.",
    `  default-server inter ${c.interMs}ms fastinter ${c.interMs}ms downinter ${c.interMs}ms fall ${c.fall} rise ${c.rise} check port ${c.apiPort} on-marked-down shutdown-sessions`,
  ];
  for (const l of c.listeners) {
    out.push(
      "",
      `listen ${l.name}`,
      `  bind 0.0.0.0:${l.port}`,
      `  maxconn ${l.maxconn}`,
      `  option httpchk GET ${l.check}`,
      "  http-check expect status 200",
      // Only one member answers /primary; `first` keeps every session on one member should two ever answer.
      `  balance ${l.check === "/primary" ? "first" : "leastconn"}`,
      ...c.servers.map((s) => `  server ${s.name} ${s.address}:${s.port} maxconn ${l.maxconn}`),
    );
  }
  return [...out, ""].join("\n");
}
