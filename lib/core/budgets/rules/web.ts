/** Web node rules: the app server's listen backlog and the proxies' open-file limits. */
import { HAPROXY_EXTRA_FDS, NGINX_WORKER_PROCESSES, appRoutesTo, appSomaxconn, haproxyNofile, routeMaxconn } from "../../derive";
import { nodesForTarget, nodesNote } from "../../measurement";
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

export const WEB_TARGET: Rule = {
  id: "WS-WEB-TARGET",
  title: "A web tier with a target rate and a measurement serves the target within its latency objective",
  severity: "error",
  rationale:
    "The talk's loop: measure one node with rising load, take the highest rate that met the latency objective without errors (the knee), and size the tier from it. " +
    "Past the knee latency climbs and requests queue. Near it (the warning share) a slow day or a lost node puts the tier past it. Without a measurement the rule does not apply: the report says the sizes are assumptions.",
  measure: (t) =>
    componentsOf(t, "webTier").flatMap((w) => {
      const s = w.settings;
      const m = s.measured;
      if (s.targetRps === undefined || !m) return [];
      const capacity = Math.round(s.nodes * s.processes * m.rpsPerProcess * 10) / 10;
      return [
        measured(w, "target rate", {
          used: s.targetRps,
          limit: capacity,
          unit: "req/s",
          lines: [
            `measured ${m.rpsPerProcess} req/s per process at ${m.processes} processes x ${m.threads} threads, p99 ${m.kneeP99Ms} ms <= ${m.latencyObjectiveMs} ms (${m.file}, ${m.measuredAt}, ${m.engine})`,
            `${s.nodes} nodes${nodesNote(s)} x ${s.processes} processes x ${m.rpsPerProcess} req/s = ${capacity} req/s`,
            `targetRps = ${s.targetRps}`,
          ],
          fix: `raise nodes of ${w.path} to at least ${nodesForTarget(s.targetRps, m, s.processes)} (or leave nodes unset: the target sets it), or measure a faster configuration`,
        }),
      ];
    }),
};
