/** Load balancer rules, per route: what HAProxy sends a node, how long it waits, and what bodies pass. */
import { PAUSE_MARGIN_SECONDS, STREAMING_THRESHOLD_BYTES, appRoutesTo, appSocketTimeoutSeconds, haproxyServerTimeoutMs, nginxReadTimeoutSeconds, nodeConcurrency, routeMaxconn } from "../../derive";
import type { LoadBalancerModel, WebTierModel } from "../../topology";
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
    "The innermost layer must give up first, so its error (and log line) reaches the client. If HAProxy's timeout server is shorter than nginx's read timeout, HAProxy cuts slow requests with a bare 504 while the app still works on them. " +
    "Each clock starts once the request body is in: nginx's read timeout starts when it has sent the body, HAProxy's server timeout restarts whenever data moves, and uWSGI's harakiri is set by its routing after post-buffering (the `harakiri` option would grow by itself for every piece of body read, and bound nothing). " +
    "The app server's own timeout is per request only with one thread per process: uWSGI 2.0 keeps one harakiri timer per process, which any thread finishing a request clears, and gunicorn's gthread workers never kill a long request (their timeout is the worker's heartbeat). There, nginx's read timeout is the first bound that holds, and the request may run on in the app after nginx's 504.",
  measure: (t) =>
    componentsOf(t, "loadBalancer").flatMap((lb) =>
      lb.routes
        .filter((r) => r.serves === "app")
        .map((r) => {
          const target = r.target;
          const nginx = nginxReadTimeoutSeconds(target.settings);
          const haproxy = haproxyServerTimeoutMs(lb.settings.timeouts.server, target.settings) / 1000;
          return measured(lb, `backend ${r.name} timeouts`, {
            used: nginx,
            limit: haproxy - 1,
            unit: "seconds",
            lines: [
              appTimeoutLine(target),
              `< nginx ${target.settings.server === "uwsgi" ? "uwsgi_read_timeout" : "proxy_read_timeout"} = ${nginx} s`,
              `< HAProxy timeout server = ${haproxy} s (must exceed nginx by at least 1 s)`,
            ],
            fix: `remove timeouts.server of ${lb.path} (each backend then derives its own), or raise it to at least ${(nginx + 1) * 1000} ms`,
          });
        }),
    ),
};

/** What the app server's own timeout bounds, as the daemon suite measured it (test/daemons/app-timeouts.test.ts). */
function appTimeoutLine(tier: WebTierModel): string {
  const s = tier.settings;
  if (s.server === "uwsgi") {
    const line = `${tier.path} harakiri = ${s.requestTimeoutSeconds} s, from the end of the body (route-run)`;
    return s.threads === 1 ? line : `${line}; one timer per process (uWSGI 2.0): with ${s.threads} threads, only while no other thread finishes a request`;
  }
  return s.threads === 1
    ? `${tier.path} timeout = ${s.requestTimeoutSeconds} s (sync worker: the whole request, body included)`
    : `${tier.path} timeout = ${s.requestTimeoutSeconds} s: not per request with gthread workers (their heartbeat); nginx's read timeout bounds the request`;
}

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

/** The layers that wait through a client's pause on an upload route of `tier`: seconds each waits, and how to lengthen it. */
function pauseLayers(lb: LoadBalancerModel, tier: WebTierModel): { name: string; seconds: number; fix: (pause: number) => string }[] {
  const s = tier.settings;
  const atLeast = (pause: number) => (pause + PAUSE_MARGIN_SECONDS) * 1000;
  const layers = [
    {
      name: "HAProxy timeout server",
      seconds: haproxyServerTimeoutMs(lb.settings.timeouts.server, s) / 1000,
      fix: (p: number) => `remove timeouts.server of ${lb.path} (each backend then derives its own), or raise it to at least ${atLeast(p)} ms`,
    },
  ];
  if (s.server === "uwsgi") {
    layers.push({ name: `${tier.path} uWSGI socket-timeout`, seconds: appSocketTimeoutSeconds(s) ?? 4, fix: () => `lower clientPauseSeconds` });
  } else if (s.threads === 1) {
    // A sync worker tells the arbiter it is alive only between requests: the whole upload counts in `timeout`.
    layers.push({
      name: `${tier.path} gunicorn timeout (sync worker: the whole upload counts)`,
      seconds: s.requestTimeoutSeconds,
      fix: () => `raise threads of ${tier.path} to 2 or more (gthread workers wait for a body as long as nginx does), or raise its requestTimeoutSeconds`,
    });
  }
  return layers;
}

export const UPLOAD_PAUSE: Rule = {
  id: "WS-UPLOAD-PAUSE",
  title: "Every layer waits through an upload route's client pause, so only nginx cuts a longer one",
  severity: "error",
  warnAt: null,
  rationale:
    "A streamed upload passes HAProxy, nginx and the app server while the client sends it; a client that stops for a while (a phone between cells) must not be cut by a layer that waits less than the route allows. " +
    "nginx waits the route's clientPauseSeconds (client_body_timeout of the location) and cuts a longer pause. uWSGI waits socket-timeout for each piece of body (4 s unless set). " +
    "HAProxy 2.6 restarts a backend's timeout server only when data moves, so it cuts a pause as long as itself; its timeout client no longer applies once the request goes to the server. " +
    "A gunicorn sync worker is killed when a request, body included, outlasts its timeout; gthread workers wait as long as nginx.",
  measure: (t) =>
    componentsOf(t, "loadBalancer").flatMap((lb) =>
      lb.routes
        .filter((r) => r.serves === "app")
        .flatMap((r) => (r.backup ? [r.target, r.backup] : [r.target]).map((tier) => ({ r, tier })))
        .flatMap(({ r, tier }) =>
          tier.settings.uploadRoutes.map((u) => {
            const layers = pauseLayers(lb, tier);
            const shortest = layers.reduce((a, b) => (b.seconds < a.seconds ? b : a));
            const limit = shortest.seconds - 1;
            return measured(lb, `backend ${r.name} upload ${u.path} pause`, {
              used: u.clientPauseSeconds,
              limit,
              unit: "seconds",
              lines: [
                `${tier.path} uploadRoutes ${u.path}: clientPauseSeconds = ${u.clientPauseSeconds} s (nginx client_body_timeout)`,
                ...layers.map((l) => `< ${l.name} = ${l.seconds} s`),
                "(each must exceed the pause by at least 1 s)",
              ],
              fix: shortest.fix(u.clientPauseSeconds),
            });
          }),
        ),
    ),
};
