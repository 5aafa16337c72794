/**
 * haproxy.cfg for HAProxy 2.6, after the CERN setup: path routing to app, static and files
 * backends, leastconn with per-server maxconn, HEAD /ping health checks, X-Forwarded-For, a request
 * id made here when the client sent none, a password-protected stats page, and a 503 page.
 * HTTPS follows a TLS profile (Mozilla's intermediate by default, see tls-profiles.ts).
 */
import { MOZILLA_GUIDELINES_VERSION, type TlsProfile } from "./tls-profiles";

export * from "./tls-profiles";

export interface HaproxyServer {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly maxconn: number;
  readonly backup: boolean;
  /**
   * On a swarm: this line is a `server-template` of this many slots over the DNS name `address`,
   * resolved through `resolvers` (each running replica fills a slot, each slot keeps `maxconn`), so
   * scaling the tier needs no re-render. Absent: one `server` line.
   */
  readonly templateSlots?: number;
}

export interface HaproxyBackend {
  readonly name: string;
  /** Empty for the default backend. */
  readonly pathPrefixes: readonly string[];
  readonly balance: "leastconn" | "roundrobin" | "source";
  readonly servers: readonly HaproxyServer[];
  readonly maxqueue: number;
  /** `timeout server` of this backend, ms. */
  readonly serverTimeoutMs: number;
  /** This backend's health check. @default the config's `health`, with Host localhost */
  readonly health?: HaproxyHealthCheck;
}

export interface HaproxyHealthCheck {
  readonly path: string;
  /** Host header of the check; an app that checks Host answers 400 to any other. @default "localhost" */
  readonly host?: string;
  readonly interMs: number;
  readonly fastInterMs: number;
  readonly fall: number;
  readonly rise: number;
}

export interface HaproxyConfig {
  readonly maxconn: number;
  /** A `resolvers` section (Docker's embedded DNS on a swarm) for the server templates. */
  readonly resolvers?: { readonly name: string; readonly nameserver: string };
  /**
   * `nbthread`; default 1. Without it HAProxy starts one thread per CPU it sees, which in a container
   * without a CPU limit is every CPU of the host.
   */
  readonly threads?: number;
  readonly httpPort: number;
  readonly https?: {
    readonly port: number;
    /** The certificate and chain; without a key in it, HAProxy reads the key from `<certificatePath>.key`. */
    readonly certificatePath: string;
    /** Answer plain HTTP with a 308 to HTTPS (keeps the method and body, as Mozilla's example does). */
    readonly redirectHttp: boolean;
    /** The port clients reach HTTPS on (the published one), for the redirect's Location. */
    readonly publicPort: number;
    /** Protocols, ciphers and groups of every `ssl` bind line, set once in the global section. */
    readonly tls: TlsProfile;
    /** Strict-Transport-Security value of every HTTPS response. */
    readonly hsts: string;
  };
  readonly health: HaproxyHealthCheck;
  readonly timeouts: { readonly connect: number; readonly check: number; readonly client: number; readonly queue: number; readonly httpRequest: number };
  readonly statsPort: number;
  readonly statsUser: string;
  /** Environment variable holding the stats password; HAProxy expands it in double quotes. */
  readonly statsPasswordEnv: string;
  readonly errorFile503: string;
  readonly backends: readonly HaproxyBackend[];
  /** Serve HAProxy's built-in Prometheus exporter at /metrics of the stats frontend (monitored stacks). @default false */
  readonly metrics?: boolean;
}

const indent = (lines: string[]) => lines.map((l) => (l === "" ? l : `    ${l}`));

/**
 * Without HTTPS no line binds with `ssl`, so these bind nothing; they are the lines every
 * HTTP-only haproxy.cfg has always had, left as they were so those files do not change.
 */
const NO_TLS_GLOBAL = [
  "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
  "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
];

/** The profile as HAProxy's defaults for every `ssl` bind line, as Mozilla's generator writes them for HAProxy 2.6. */
function tlsGlobal(tls: TlsProfile): string[] {
  const min = tls.protocols[0];
  const max = tls.protocols[tls.protocols.length - 1];
  const source = tls.name === "custom" ? "a custom TLS profile" : `Mozilla's Server Side TLS guidelines ${MOZILLA_GUIDELINES_VERSION}, ${tls.name} profile`;
  return [
    `# TLS of every ssl bind line: ${source}.`,
    `ssl-default-bind-curves ${tls.groups.join(":")}`,
    ...(tls.ciphers.length > 0 ? [`ssl-default-bind-ciphers ${tls.ciphers.join(":")}`] : []),
    ...(tls.ciphersuites.length > 0 ? [`ssl-default-bind-ciphersuites ${tls.ciphersuites.join(":")}`] : []),
    [
      "ssl-default-bind-options",
      ...(tls.preferClientCiphers ? ["prefer-client-ciphers"] : []),
      `ssl-min-ver ${min}`,
      ...(max !== "TLSv1.3" ? [`ssl-max-ver ${max}`] : []),
      "no-tls-tickets",
    ].join(" "),
    "# A certificate file without its private key gets it from <file>.key beside it (uploaded from a sensitive variable).",
    "ssl-load-extra-files key",
  ];
}

/**
 * One line per request, at its end: client, accept date, frontend, backend/server, the timers (ms:
 * request received, queued, connect, response headers, total), status, bytes, termination state,
 * connection counts, queue positions, the request line, and the request id (captured header 0).
 */
export const HAPROXY_LOG_FORMAT = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r request_id=%[capture.req.hdr(0)]";

export function renderHaproxyConfig(c: HaproxyConfig): string {
  const routed = c.backends.filter((b) => b.pathPrefixes.length > 0);
  const defaults = c.backends.filter((b) => b.pathPrefixes.length === 0);
  if (defaults.length !== 1) throw new Error(`internal: haproxy needs exactly one default backend, got ${defaults.length}`);

  const frontendRouting = [
    ...routed.map((b) => `acl route_${b.name} path_beg ${b.pathPrefixes.join(" ")}`),
    ...routed.map((b) => `use_backend ${b.name} if route_${b.name}`),
    `default_backend ${defaults[0].name}`,
  ];

  const requestId = [
    "# Keep the client's X-Request-ID, or make one, so one id follows the request through nginx and the app.",
    "http-request set-header X-Request-ID %[unique-id] unless { req.hdr(X-Request-ID) -m found }",
    "http-request capture req.hdr(X-Request-ID) len 64",
  ];

  const frontends: string[] = [];
  frontends.push("frontend http_in", ...indent([`bind :${c.httpPort}`, ...requestId]));
  if (c.https) {
    if (c.https.redirectHttp) {
      // Not `redirect scheme https`: it keeps the Host header's port, the HTTP one (a site on 8080
      // would be sent to https://host:8080/). The Host without its port, then the HTTPS port.
      const port = c.https.publicPort === 443 ? "" : `:${c.https.publicPort}`;
      frontends.push(...indent([`http-request redirect location "https://%[req.hdr(host),regsub(:[0-9]+\\$,)]${port}%[pathq]" code 308`]));
    } else {
      frontends.push(...indent(["http-request set-header X-Forwarded-Proto http", ...frontendRouting]));
    }
    frontends.push(
      "",
      "frontend https_in",
      ...indent([
        `bind :${c.https.port} ssl crt ${c.https.certificatePath} alpn h2,http/1.1`,
        ...requestId,
        "http-request set-header X-Forwarded-Proto https",
        "# After-response: also on the responses HAProxy makes itself (the 503 page, errors).",
        `http-after-response set-header Strict-Transport-Security "${c.https.hsts}"`,
        ...frontendRouting,
      ]),
    );
  } else {
    frontends.push(...indent(["http-request set-header X-Forwarded-Proto http", ...frontendRouting]));
  }

  const backends = c.backends.flatMap((b) => {
    const health = b.health ?? c.health;
    return [
      "",
      `backend ${b.name}`,
      ...indent([
        `balance ${b.balance}`,
        ...(b.balance === "source" ? ["hash-type consistent"] : []),
        "option forwardfor except 127.0.0.0/8",
        "option httpchk",
        `http-check send meth HEAD uri ${health.path} ver HTTP/1.1 hdr Host ${health.host ?? "localhost"}`,
        "http-check expect status 200",
        "# A node answering 404 to the check drains: no new sessions, current ones finish.",
        "http-check disable-on-404",
        `timeout queue ${c.timeouts.queue}ms`,
        "# Longer than nginx's read timeout, so nginx and the app give the error, not HAProxy.",
        `timeout server ${b.serverTimeoutMs}ms`,
        "# Real traffic marks a server down too: ten connection failures in a row (a stopped node refuses",
        "# at once, so under load they come within milliseconds) take it out before the next check would,",
        "# instead of every request to it failing until then. The checks bring it back (rise).",
        `default-server check inter ${health.interMs} fastinter ${health.fastInterMs} fall ${health.fall} rise ${health.rise} maxqueue ${b.maxqueue} observe layer4 error-limit 10 on-error mark-down`,
        ...b.servers.map((s) =>
          s.templateSlots !== undefined && c.resolvers
            ? `server-template ${s.name}- ${s.templateSlots} ${s.address}:${s.port} maxconn ${s.maxconn}${s.backup ? " backup" : ""} resolvers ${c.resolvers.name} init-addr none`
            : `server ${s.name} ${s.address}:${s.port} maxconn ${s.maxconn}${s.backup ? " backup" : ""}`,
        ),
      ]),
    ];
  });

  return [
    "# Rendered by cdktf-webstack. Edit the stack, not this file.",
    "global",
    ...indent([
      "log stdout format raw local0",
      `maxconn ${c.maxconn}`,
      "# Explicit thread count: by default HAProxy starts one thread per CPU it sees (in a container without",
      "# a CPU limit, every host CPU). The threads share the server queues (per-server maxconn) under locks;",
      "# on CPUs shared with nginx and the app servers a preempted thread holding one leaves the others",
      "# spinning. Measured on 2 shared cores: 2 threads 160-200 us of CPU per request, 1 thread 90-100 us.",
      "# One thread proxies far more requests than the app tier behind it serves.",
      `nbthread ${c.threads ?? 1}`,
      ...(c.https ? tlsGlobal(c.https.tls) : NO_TLS_GLOBAL),
    ]),
    "",
    "defaults",
    ...indent([
      "mode http",
      "log global",
      '# The request id (captured header 0) ends every line, for tracing across HAProxy, nginx and the app.',
      `log-format "${HAPROXY_LOG_FORMAT}"`,
      "unique-id-format %[uuid()]",
      "option dontlognull",
      "option redispatch",
      "retries 2",
      `timeout connect ${c.timeouts.connect}ms`,
      `timeout check ${c.timeouts.check}ms`,
      `timeout client ${c.timeouts.client}ms`,
      `timeout http-request ${c.timeouts.httpRequest}ms`,
      "timeout http-keep-alive 10s",
      `errorfile 503 ${c.errorFile503}`,
    ]),
    "",
    ...(c.resolvers ? resolversSection(c.resolvers) : []),
    ...frontends,
    ...backends,
    "",
    "# Stats page on an internal port: the container publishes only the HTTP(S) ports.",
    "frontend stats",
    ...indent([
      `bind :${c.statsPort}`,
      ...(c.metrics
        ? ["# HAProxy's built-in Prometheus exporter, for the stack's Prometheus; this port is never published.", "http-request use-service prometheus-exporter if { path /metrics }"]
        : []),
      "stats enable",
      "stats uri /stats",
      "stats refresh 10s",
      "stats hide-version",
      `stats auth ${c.statsUser}:"\${${c.statsPasswordEnv}}"`,
    ]),
    "",
  ].join("\n");
}

/**
 * Seconds between two resolutions of a server template's name (`hold valid`). A swarm task leaving
 * (a rolling update, a drain) drops out of Docker's DNS 2 s before its stop signal (moby's
 * defaultGossipConvergeDelay), so HAProxy must see it gone within that; the nginx it points at also
 * waits before it stops listening (plan/web-tier.ts), to cover one more resolution.
 */
export const SWARM_DNS_REFRESH_SECONDS = 1;

/**
 * Docker's embedded DNS: a swarm service with `endpoint_mode = dnsrr` resolves to the addresses of its
 * running tasks (a task is in it only while healthy and not stopping); HAProxy re-resolves every
 * `hold valid` and fills or empties template slots. An address missing from an answer is dropped at
 * once (`hold obsolete 0s`): Docker's answer is the swarm's own list, not a cache that may lag, and a
 * kept address points at a task that is stopping or gone (measured with `hold valid 5s` and `hold
 * obsolete 10s`: requests to the old task during a rolling update failed, see README).
 */
function resolversSection(r: { name: string; nameserver: string }): string[] {
  return [
    `resolvers ${r.name}`,
    ...indent([
      `nameserver dns ${r.nameserver}`,
      "resolve_retries 3",
      "timeout resolve 1s",
      "timeout retry 1s",
      `hold valid ${SWARM_DNS_REFRESH_SECONDS}s`,
      "hold obsolete 0s",
      "accepted_payload_size 8192",
    ]),
    "",
  ];
}

/** The 503 page as the raw HTTP response HAProxy's `errorfile` wants. */
export function renderHaproxyErrorPage(html: string): string {
  const body = html.endsWith("\n") ? html : `${html}\n`;
  return [
    "HTTP/1.0 503 Service Unavailable",
    "Cache-Control: no-cache",
    "Connection: close",
    "Content-Type: text/html; charset=utf-8",
    "Retry-After: 60",
    "",
    body,
  ].join("\r\n");
}

export const DEFAULT_MAINTENANCE_HTML =
  '<!doctype html><html><head><meta charset="utf-8"><title>Maintenance</title></head>' +
  "<body><h1>We will be back soon</h1><p>The site is down for maintenance. Please try again in a few minutes.</p></body></html>";
