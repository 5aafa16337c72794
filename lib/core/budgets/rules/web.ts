/** Web node rules: the app server's listen backlog and the proxies' open-file limits. */
import { HAPROXY_EXTRA_FDS, NGINX_WORKER_PROCESSES, appRoutesTo, appSomaxconn, haproxyNofile, routeMaxconn } from "../../derive";
import { componentsOf } from "../../topology";
import { measured, type Rule } from "../rule";

export const APP_BACKLOG: Rule = {
  id: "WS-APP-BACKLOG",
  title: "The app server's listen backlog holds what the proxies send, within somaxconn",
  severity: "error",
  warnAt: null,
  rationale:
    'Connections beyond the app server\'s listen backlog are dropped: nginx logs "upstream prematurely closed" or "connect() failed" at random. ' +
    "uWSGI's default backlog is 100. The backlog must hold the load balancer's maxconn towards the node, and the kernel caps it at net.core.somaxconn, which the library renders on the container.",
  measure: (t) =>
    componentsOf(t, "webTier").flatMap((w) => {
      const s = w.settings;
      const sent = appRoutesTo(t, w).map(({ lb, route }) => ({ lb, r: route, maxconn: routeMaxconn(t, route) }));
      const total = sent.reduce((n, x) => n + x.maxconn, 0);
      const somaxconn = appSomaxconn(s);
      const name = s.server === "uwsgi" ? "uWSGI listen" : "gunicorn backlog";
      return [
        measured(w, `${name} vs. load balancer maxconn`, {
          used: total,
          limit: s.listenBacklog,
          unit: "connections",
          lines: [...sent.map((x) => `${x.lb.path} backend ${x.r.name}: maxconn ${x.maxconn} per server`), `sent to one node at most = ${total}`, `${name} = ${s.listenBacklog}`],
          fix: `raise listenBacklog of ${w.path} to at least ${total}`,
        }),
        measured(w, `${name} vs. net.core.somaxconn`, {
          used: s.listenBacklog,
          limit: somaxconn,
          unit: "connections",
          lines: [`${name} = ${s.listenBacklog}`, `net.core.somaxconn on the container = ${somaxconn}`],
          fix: `lower listenBacklog of ${w.path} to at most ${somaxconn}`,
        }),
      ];
    }),
};

export const FILE_LIMITS: Rule = {
  id: "WS-FILE-LIMITS",
  title: "HAProxy and nginx connections fit their open-file limits",
  severity: "error",
  warnAt: null,
  rationale: "A proxied connection holds two descriptors (client and server side). Past the nofile limit accept() fails and the proxy drops connections.",
  measure: (t) => [
    ...componentsOf(t, "loadBalancer").map((lb) => {
      const need = 2 * lb.settings.maxconn + HAPROXY_EXTRA_FDS;
      const limit = haproxyNofile(lb.settings);
      return measured(lb, "haproxy nofile", {
        used: need,
        limit,
        unit: "descriptors",
        lines: [`2 x maxconn ${lb.settings.maxconn} + ${HAPROXY_EXTRA_FDS} for listeners and checks = ${need}`, `nofile ulimit = ${limit}`],
        fix: `remove nofileLimit of ${lb.path} (it then follows maxconn), or lower maxconn`,
      });
    }),
    ...componentsOf(t, "webTier").map((w) => {
      const need = NGINX_WORKER_PROCESSES * w.settings.nginxWorkerConnections * 2;
      const limit = w.settings.nginxNofileLimit;
      return measured(w, "nginx nofile", {
        used: need,
        limit,
        unit: "descriptors",
        lines: [`${NGINX_WORKER_PROCESSES} workers x worker_connections ${w.settings.nginxWorkerConnections} x 2 = ${need}`, `nofile ulimit = ${limit}`],
        fix: `raise nginxNofileLimit of ${w.path} to at least ${need}, or lower nginxWorkerConnections`,
      });
    }),
  ],
};
