/** HAProxy: one backend per route over the target tiers' nginx nodes; the only container that publishes ports. */
import { haproxyNofile, haproxyServerTimeoutMs, routeMaxconn } from "../derive";
import { webNodeSlots } from "../layout";
import { DEFAULT_MAINTENANCE_HTML, renderHaproxyConfig, renderHaproxyErrorPage, type HaproxyBackend, type HaproxyServer } from "../render/haproxy";
import type { LoadBalancerModel, WebTierModel } from "../topology";
import { ENV, secretNames } from "./clients";
import { cmd, file, nofile, type PlanContext, type Planner } from "./context";
import { NGINX_PORT } from "./web-tier";

export const HAPROXY_DIR = "/usr/local/etc/haproxy";

function servers(ctx: PlanContext, tier: WebTierModel, maxconn: number, backup: boolean): (HaproxyServer & { container: string })[] {
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
        servers: routeServers.map(({ container: _, ...server }) => server),
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
    const statsPassword = ctx.secret(secretNames.statsPassword(lb), `password of the HAProxy stats page of ${lb.path}`);
    if (s.https?.certificateVariable) {
      ctx.pemSecret(s.https.certificateVariable, `PEM bundle (certificate, chain, key) of ${lb.path}`);
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
