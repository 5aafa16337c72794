/** A web tier: per node, the app server (uWSGI or gunicorn) and nginx in front of it. */
import { NGINX_WORKER_PROCESSES, appRoutesTo, appSocketTimeoutSeconds, appSomaxconn, backendHealthCheck, nginxReadTimeoutSeconds, nodeConcurrency, webAppMemoryMiB } from "../derive";
import { webNodeSlots } from "../layout";
import { NGINX_STUB_STATUS_PORT, applicationName } from "../monitoring";
import { exporterAddress } from "./monitoring";
import { renderGunicornConfig, renderUwsgiIni, type AppServerConfig } from "../render/appserver";
import { renderNginxConfig } from "../render/nginx";
import type { WebTierModel } from "../topology";
import { parseSize } from "../units";
import { clientEnv, resolveEnvironment, serviceKeys } from "./clients";
import { cmd, file, nofile, type PlanContext, type Planner } from "./context";
import { planRelease } from "./release";

export const NGINX_PORT = 80;
export const UWSGI_STATS_PORT = 9191;
export const STATIC_ROOT = "/srv/static";

/**
 * The app server's command behind the tier's pre-start commands: a shell runs them (stopping at the
 * first failure) and then becomes the server (exec), so the server stays PID 1 and gets the signals.
 */
export function withPreStart(preStart: readonly string[], server: readonly string[]): string[] {
  if (preStart.length === 0) return [...server];
  return ["/bin/sh", "-c", ["set -e", ...preStart, 'exec "$@"'].join("\n"), "pre-start", ...server];
}

export const webTierPlanner: Planner<"webTier"> = {
  kind: "webTier",
  plan(ctx: PlanContext, tier: WebTierModel): void {
    const s = tier.settings;
    const maxBodyBytes = Math.max(parseSize(s.clientMaxBodySize), ...s.uploadRoutes.map((r) => parseSize(r.maxBodySize)));
    const name = applicationName(ctx.topology, tier);
    const env = { ...clientEnv(ctx, tier, s, name), ...resolveEnvironment(ctx, tier, s.environment, name) };
    const dependsOn = serviceKeys(tier);
    const release = planRelease(ctx, tier, env, dependsOn);
    // The node's own health checks send the Host the load balancer's checks send, so an app that checks
    // Host (Django's ALLOWED_HOSTS) answers them too; without a site host they stay as they were.
    const siteHost = appRoutesTo(ctx.topology, tier)
      .map(({ lb, route }) => backendHealthCheck(lb, route).host)
      .find((host) => host !== "localhost");
    const appDependsOn = release ? [...dependsOn, release] : dependsOn;
    for (let n = 0; n < s.nodes; n++) {
      const slots = webNodeSlots(tier, n);
      const nginxAddress = ctx.address(tier, slots.nginx);
      const appAddress = ctx.address(tier, slots.app);
      const staticVolume = ctx.nodeVolumeKey(tier, slots.node, "static");
      const exporter = exporterAddress(ctx, slots.nginx.key);
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
        forwardedAllowIps: ctx.trustedPeer(nginxAddress),
        socketTimeoutSeconds: appSocketTimeoutSeconds(s),
        bufferSize: s.uwsgiBufferSize,
        extraOptions: s.server === "uwsgi" ? s.uwsgiOptions : s.gunicornOptions,
      };
      const appFile = s.server === "uwsgi" ? file("/etc/webstack/uwsgi.ini", renderUwsgiIni(app)) : file("/etc/webstack/gunicorn.conf.py", renderGunicornConfig(app));
      const probe =
        s.server === "uwsgi"
          ? `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${UWSGI_STATS_PORT}/", timeout=4)`
          : siteHost
            ? `import urllib.request; urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:${s.appPort}/ping", headers={"Host": "${siteHost}"}), timeout=4)`
            : `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${s.appPort}/ping", timeout=4)`;
      ctx.container({
        key: slots.app.key,
        constructPath: tier.path,
        role: s.server,
        image: s.image,
        command: withPreStart(s.preStart, s.server === "uwsgi" ? ["uwsgi", "--ini", appFile.path] : ["gunicorn", "--config", appFile.path]),
        env,
        address: appAddress,
        listens: [
          { port: s.appPort, purpose: s.server },
          ...(s.server === "uwsgi" ? [{ port: UWSGI_STATS_PORT, purpose: "uwsgi stats" }] : []),
        ],
        files: [appFile],
        // Docker fills an empty named volume from the image on first mount: nginx then serves the app's files.
        mounts: [ctx.volume(tier, staticVolume, s.staticDir)],
        dependsOn: appDependsOn,
        memoryMiB: webAppMemoryMiB(s),
        healthcheck: { ...cmd("python3", "-c", probe), startPeriodSeconds: 30 },
        sysctls: { "net.core.somaxconn": String(appSomaxconn(s)) },
      });
      ctx.container({
        key: slots.nginx.key,
        constructPath: tier.path,
        role: "nginx",
        image: s.nginxImage,
        command: ["nginx", "-g", "daemon off;", "-c", "/etc/nginx/nginx.conf"],
        env: {},
        address: nginxAddress,
        listens: [{ port: NGINX_PORT, purpose: "http" }, ...(exporter ? [{ port: NGINX_STUB_STATUS_PORT, purpose: "stub_status (its exporter only)" }] : [])],
        files: [
          file(
            "/etc/nginx/nginx.conf",
            renderNginxConfig({
              workerProcesses: NGINX_WORKER_PROCESSES,
              workerConnections: s.nginxWorkerConnections,
              nofile: s.nginxNofileLimit,
              upstream: { protocol: s.server === "uwsgi" ? "uwsgi" : "http", address: appAddress, port: s.appPort, keepalive: nodeConcurrency(s) },
              staticUrlPath: s.staticUrlPath,
              staticRoot: STATIC_ROOT,
              clientMaxBodySize: s.clientMaxBodySize,
              uploadRoutes: s.uploadRoutes,
              locations: s.locations,
              readTimeoutSeconds: nginxReadTimeoutSeconds(s),
              trustedProxies: ctx.topology.settings.subnet,
              ...(exporter ? { stubStatus: { port: NGINX_STUB_STATUS_PORT, allow: exporter } } : {}),
            }),
          ),
        ],
        mounts: [ctx.volume(tier, staticVolume, STATIC_ROOT, true)],
        dependsOn: [slots.app.key],
        memoryMiB: s.nginxMemoryMiB,
        // Through nginx to the app: a node is healthy only when both answer.
        healthcheck: cmd("curl", "--fail", "--silent", "--output", "/dev/null", "--max-time", "4", ...(siteHost ? ["--header", `Host: ${siteHost}`] : []), "http://127.0.0.1/ping"),
        // nginx opens a connection to the app per request (gunicorn's sync workers and the uwsgi protocol
        // close after every response) and closes its side first, so each one sits in TIME_WAIT here for
        // 60 s. Past ~14 000 of them (20 s at 700 requests/s) connect() spends its time searching for a
        // free port: measured, nginx went from 170 to 2 300-4 700 us of CPU per request and the node's
        // throughput fell by three quarters. tw_reuse=1 lets connect() reuse a port whose TIME_WAIT is over
        // 1 s old (TCP timestamps keep that safe). A network-namespace sysctl: this container only.
        sysctls: { "net.ipv4.tcp_tw_reuse": "1" },
        ulimits: nofile(s.nginxNofileLimit),
        // SIGTERM is nginx's fast shutdown, which cuts the requests in flight; SIGQUIT finishes them. On a
        // swarm every rolling update stops a replica under traffic.
        ...(ctx.swarm ? { stopSignal: "SIGQUIT" } : {}),
      });
    }
  },
};
