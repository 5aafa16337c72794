/** HAProxy: one backend per route over the target tiers' nginx nodes; the only container that publishes ports. */
import { backendHealthCheck, haproxyNofile, haproxyServerTimeoutMs, routeMaxconn } from "../derive";
import { webNodeSlots } from "../layout";
import { monitoringOf } from "../monitoring";
import { DEFAULT_MAINTENANCE_HTML, renderHaproxyConfig, renderHaproxyErrorPage, type HaproxyBackend, type HaproxyServer } from "../render/haproxy";
import { hstsHeaderValue, resolveTlsProfile } from "../render/tls-profiles";
import type { LoadBalancerSettings } from "../schemas";
import type { LoadBalancerModel, WebTierModel } from "../topology";
import { ENV, secretNames } from "./clients";
import { cmd, file, nofile, snake, type PlanContext, type Planner } from "./context";
import { serviceSlots } from "../placement";
import { NGINX_PORT } from "./web-tier";

export const HAPROXY_DIR = "/usr/local/etc/haproxy";
/** The certificate (and chain) HAProxy binds with; its private key, when not inside, is `<path>.key`. */
export const HAPROXY_CERTIFICATE = `${HAPROXY_DIR}/certs/site.pem`;

/**
 * The sensitive variable holding the private key of a load balancer's certificate: `keyVariable`,
 * else `<id>_tls_key` for a certificate file; none when `certificateVariable` holds the whole bundle.
 */
export function tlsKeyVariable(id: string, https: NonNullable<LoadBalancerSettings["https"]>): string | undefined {
  return https.keyVariable ?? (https.certificateFile !== undefined ? `${snake(id)}_tls_key` : undefined);
}

function servers(ctx: PlanContext, tier: WebTierModel, maxconn: number, backup: boolean): (HaproxyServer & { container: string })[] {
  if (ctx.swarm) {
    // One template over the nginx service's DNS name; every replica is a server of its own maxconn.
    const first = webNodeSlots(tier, 0);
    const placement = ctx.placementOf(tier, first.nginx.key)!;
    const slots = serviceSlots(ctx.swarm, placement);
    return [{ name: tier.id, address: ctx.address(tier, first.nginx), port: NGINX_PORT, maxconn, backup, container: first.nginx.key, templateSlots: slots }];
  }
  return Array.from({ length: tier.settings.nodes }, (_, n) => {
    const slots = webNodeSlots(tier, n);
    return { name: slots.node, address: ctx.address(tier, slots.nginx), port: NGINX_PORT, maxconn, backup, container: slots.nginx.key };
  });
}

export const loadBalancerPlanner: Planner<"loadBalancer"> = {
  kind: "loadBalancer",
  plan(ctx: PlanContext, lb: LoadBalancerModel): void {
    const s = lb.settings;
    const upstreams: string[] = [];
    const backends: HaproxyBackend[] = lb.routes.map((route) => {
      const maxconn = routeMaxconn(ctx.topology, route);
      const routeServers = [...servers(ctx, route.target, maxconn, false), ...(route.backup ? servers(ctx, route.backup, maxconn, true) : [])];
      upstreams.push(...routeServers.map((srv) => srv.container));
      return {
        name: route.name,
        pathPrefixes: route.pathPrefixes,
        balance: s.balance,
        maxqueue: s.maxqueue,
        serverTimeoutMs: haproxyServerTimeoutMs(s.timeouts.server, route.target.settings),
        health: backendHealthCheck(lb, route),
        servers: routeServers.map(({ container: _, ...server }) => server),
      };
    });
    const certificatePath = HAPROXY_CERTIFICATE;
    const tls = s.https ? resolveTlsProfile(s.https.tlsProfile) : undefined;
    const keyVariable = s.https ? tlsKeyVariable(lb.id, s.https) : undefined;
    // Only the placeholder is written: the value travels as a sensitive variable, uploaded at apply.
    const keyPlaceholder = keyVariable ? ctx.pemSecret(keyVariable, `PEM private key of the HTTPS certificate of ${lb.path}`) : undefined;
    const files = [
      file(
        `${HAPROXY_DIR}/haproxy.cfg`,
        renderHaproxyConfig({
          maxconn: s.maxconn,
          httpPort: 80,
          https:
            s.https && tls
              ? { port: 443, certificatePath, redirectHttp: s.https.redirectHttp, publicPort: s.https.port, tls, hsts: hstsHeaderValue(tls, s.https.hsts) }
              : undefined,
          health: s.healthCheck,
          timeouts: s.timeouts,
          statsPort: s.statsPort,
          statsUser: s.statsUser,
          statsPasswordEnv: ENV.haproxyStatsPassword,
          errorFile503: `${HAPROXY_DIR}/errors/503.http`,
          ...(ctx.swarm ? { resolvers: { name: "docker", nameserver: "127.0.0.11:53" } } : {}),
          backends,
          metrics: monitoringOf(ctx.topology) !== undefined,
        }),
      ),
      file(`${HAPROXY_DIR}/errors/503.http`, renderHaproxyErrorPage(s.maintenanceHtml ?? DEFAULT_MAINTENANCE_HTML)),
      ...(lb.certificatePem ? [file(certificatePath, lb.certificatePem)] : []),
      ...(keyPlaceholder ? [file(`${certificatePath}.key`, keyPlaceholder)] : []),
    ];
    const statsPassword = ctx.secret(secretNames.statsPassword(lb), `password of the HAProxy stats page of ${lb.path}`);
    if (s.https?.certificateVariable) {
      const holds = keyVariable ? "certificate and chain" : "certificate, chain, key";
      ctx.pemSecret(s.https.certificateVariable, `PEM bundle (${holds}) of ${lb.path}`);
    }
    ctx.container({
      key: lb.id,
      constructPath: lb.path,
      role: "haproxy",
      image: s.image,
      command: ["haproxy", "-W", "-db", "-f", `${HAPROXY_DIR}/haproxy.cfg`],
      user: "haproxy",
      env: { [ENV.haproxyStatsPassword]: statsPassword },
      address: ctx.address(lb, 0),
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
      ulimits: nofile(haproxyNofile(s)),
      dependsOn: [...new Set(upstreams)],
    });
  },
};
