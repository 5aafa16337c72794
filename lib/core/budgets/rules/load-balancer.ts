/** Load balancer rules, per route: what HAProxy sends a node, how long it waits, and what bodies pass. */
import { STREAMING_THRESHOLD_BYTES, appRoutesTo, haproxyServerTimeoutMs, nginxReadTimeoutSeconds, nodeConcurrency, routeMaxconn } from "../../derive";
import { componentsOf } from "../../topology";
import { parseSize } from "../../units";
import { measured, type Rule } from "../rule";

export const LB_SERVER_MAXCONN: Rule = {
  id: "WS-LB-SERVER-MAXCONN",
  title: "What HAProxy may send one node, over every route, is at most what the node serves at once",
  severity: "error",
  warnAt: null,
  rationale:
    "An app node works on processes x threads requests at once. The per-server maxconn of every backend that lists the node (its routes, and routes it backs up) adds up at the node; " +
    "a larger sum piles requests in the app's listen backlog, where they time out unseen, while a matching sum keeps them in HAProxy's queue, which redispatches and reports them.",
  measure: (t) =>
    componentsOf(t, "webTier").flatMap((tier) => {
      const sent = appRoutesTo(t, tier);
      if (sent.length === 0) return [];
      const s = tier.settings;
      const capacity = nodeConcurrency(s);
      const used = sent.reduce((n, { route }) => n + routeMaxconn(t, route), 0);
      const overridden = sent.filter(({ route }) => route.maxconnPerServer !== undefined).map(({ route }) => `'${route.name}'`);
      return [
        measured(tier, "node: maxconn of every backend that lists it", {
          used,
          limit: capacity,
          unit: "connections",
          lines: [
            ...sent.map(({ lb, route }) => `${lb.path} backend ${route.name}${route.backup?.path === tier.path ? " (as backup)" : ""}: maxconn ${routeMaxconn(t, route)} per server${route.maxconnPerServer !== undefined ? " (maxconnPerServer)" : ""}`),
            `sent to one node at most = ${used}`,
            `${tier.path}: ${s.processes} processes x ${s.threads} threads = ${capacity} at once`,
          ],
          fix:
            overridden.length > 0
              ? `lower maxconnPerServer of route ${overridden.join(", ")} so the sum is at most ${capacity} (or remove it: routes then share the node), or raise processes or threads of ${tier.path}`
              : `raise processes or threads of ${tier.path}`,
        }),
      ];
    }),
};

export const TIMEOUT_CHAIN: Rule = {
  id: "WS-TIMEOUT-CHAIN",
  title: "Timeouts grow outward: app server < nginx < HAProxy",
  severity: "error",
  warnAt: null,
  rationale:
    "The innermost layer must give up first, so its error (and log line) reaches the client. If HAProxy's timeout server is shorter than nginx's read timeout, HAProxy cuts slow requests with a bare 504 while the app still works on them.",
  measure: (t) =>
    componentsOf(t, "loadBalancer").flatMap((lb) =>
      lb.routes
        .filter((r) => r.serves === "app")
        .map((r) => {
          const target = r.target;
          const app = target.settings.requestTimeoutSeconds;
          const nginx = nginxReadTimeoutSeconds(target.settings);
          const haproxy = haproxyServerTimeoutMs(lb.settings.timeouts.server, target.settings) / 1000;
          return measured(lb, `backend ${r.name} timeouts`, {
            used: nginx,
            limit: haproxy - 1,
            unit: "seconds",
            lines: [
              `${target.path} ${target.settings.server === "uwsgi" ? "harakiri" : "timeout"} = ${app} s`,
              `< nginx ${target.settings.server === "uwsgi" ? "uwsgi_read_timeout" : "proxy_read_timeout"} = ${nginx} s`,
              `< HAProxy timeout server = ${haproxy} s (must exceed nginx by at least 1 s)`,
            ],
            fix: `remove timeouts.server of ${lb.path} (each backend then derives its own), or raise it to at least ${(nginx + 1) * 1000} ms`,
          });
        }),
    ),
};

export const BODY_SIZE: Rule = {
  id: "WS-BODY-SIZE",
  title: "Request bodies a route accepts pass nginx and the app server, and large ones stream",
  severity: "error",
  warnAt: null,
  rationale:
    "A route that must take 50 GB uploads is useless if nginx stops at 10 MB (413) or buffers each upload to disk before the app sees a byte. The route's size must fit the target tier's limit for that path, and bodies above 100 MiB must go to a streamed location (the tier's uploadRoutes).",
  measure: (t) =>
    componentsOf(t, "loadBalancer").flatMap((lb) =>
      lb.routes.flatMap((r) => {
        if (r.maxBodySize === undefined) return [];
        const target = r.target;
        const wanted = parseSize(r.maxBodySize);
        return r.pathPrefixes.map((prefix) => {
          // Only a prefix location takes every URL under the route's prefix; an exact or regex one takes some.
          const upload = target.settings.uploadRoutes.find((u) => u.match === "prefix" && prefix.startsWith(u.path));
          const nginxLimit = parseSize(upload?.maxBodySize ?? target.settings.clientMaxBodySize);
          // A buffered location takes bodies up to the streaming threshold at most.
          const limit = upload ? nginxLimit : Math.min(nginxLimit, STREAMING_THRESHOLD_BYTES);
          return measured(lb, `route ${r.name} ${prefix} body size`, {
            used: wanted,
            limit,
            unit: "bytes",
            lines: [
              `route ${prefix} accepts ${r.maxBodySize} = ${wanted} bytes`,
              upload
                ? `${target.path} uploadRoutes ${upload.path}: client_max_body_size ${upload.maxBodySize} = ${nginxLimit} bytes, streamed`
                : `${target.path} clientMaxBodySize ${target.settings.clientMaxBodySize} = ${nginxLimit} bytes, buffered (buffered bodies: at most ${STREAMING_THRESHOLD_BYTES} bytes)`,
            ],
            fix: `add uploadRoutes: [{ path: "${prefix}", maxBodySize: "${r.maxBodySize}" }] to ${target.path}`,
          });
        });
      }),
    ),
};
