/**
 * Alerts on what the stats exporter reads: a uWSGI tier's stats server silent, its listen queue against
 * its `listen` backlog (WS-APP-BACKLOG's limit); memcached silent, its connections and evictions against
 * its model numbers.
 */
import { MEMCACHED_CONNECTIONS } from "../budgets/rules/clients";
import { APP_BACKLOG } from "../budgets/rules/web";
import { memcachedItemMemoryMiB } from "../derive";
import { webNodeSlots } from "../layout";
import type { CacheModel, Topology, WebTierModel } from "../topology";
import { gauge, num, oneOf, warnShare, type AlertSpec } from "./spec";

/** A uWSGI tier: the listen queue nears its backlog, and reaches it. */
export function uwsgiAlerts(t: Topology, tier: WebTierModel): AlertSpec[] {
  if (tier.settings.server !== "uwsgi") return [];
  const s = tier.settings;
  const apps = Array.from({ length: s.nodes }, (_, n) => webNodeSlots(tier, n).app.key);
  const sel = `job="uwsgi",instance${oneOf(apps)}`;
  const first = { job: "uwsgi", instance: apps[0] };
  const firstSel = `job="uwsgi",instance="${apps[0]}"`;
  const socket = `0.0.0.0:${s.appPort}`;
  // WS-APP-BACKLOG warns at no share (it errs when the backlog is short): the stack's warnAtFraction, as ServerQueueNearMaxqueue uses.
  const share = warnShare(APP_BACKLOG, t);
  const threshold = share * s.listenBacklog;
  const sent = APP_BACKLOG.measure(t).find((m) => m.constructPath === tier.path && m.limit === s.listenBacklog && /load balancer maxconn/.test(m.subject));
  const sentText = sent ? `; the load balancers send a node at most ${sent.used} at once` : "";
  return [
    {
      group: tier.id,
      component: tier.path,
      // The probe goes through the stats exporter, so a silent stats server leaves `up` at 1: TargetDown never sees it.
      name: "UwsgiStatsDown",
      expr: `uwsgi_up{${sel}} == 0`,
      forSeconds: 120,
      severity: "warning",
      summary: `${tier.path}: a node's uWSGI stats server does not answer the stats exporter: its master is gone or every worker is stuck, and its queue is not watched`,
      threshold: "uwsgi_up 0 for 2 min",
      source: `every node of the tier (${s.nodes}), its stats server read by the stats exporter (job uwsgi)`,
      check: { series: [{ series: `uwsgi_up{${firstSel}}`, firing: "0x30", quiet: "1x30" }], labels: first },
    },
    {
      group: tier.id,
      component: tier.path,
      name: "UwsgiListenQueue",
      expr: `uwsgi_listen_queue{${sel}} > ${num(threshold)}`,
      forSeconds: 60,
      severity: "warning",
      summary: `${tier.path}: connections wait in a node's uWSGI listen queue near its backlog of ${s.listenBacklog}: every process is busy, and past the backlog connections are refused`,
      threshold: `> ${num(threshold)} connections waiting`,
      source: `WS-APP-BACKLOG: the stack's warnAtFraction ${num(share)} x listen ${s.listenBacklog} (listenBacklog)${sentText}`,
      check: { series: [gauge(`uwsgi_listen_queue{${firstSel}}`, threshold)], labels: first },
    },
    {
      group: tier.id,
      component: tier.path,
      name: "UwsgiListenQueueFull",
      // uWSGI 2.0 checks each socket's queue every second and logs "listen queue ... full" at the backlog,
      // but no longer counts it: listen_queue_errors stays 0 (read in its master.c, and measured on 2.0.21).
      expr: `uwsgi_socket_listen_queue{${sel}} >= uwsgi_socket_listen_queue_max{${sel}} > 0`,
      forSeconds: 0,
      severity: "critical",
      summary: `${tier.path}: a node's uWSGI listen queue is at its backlog (${s.listenBacklog}): the kernel refuses the connections beyond it and nginx answers 502`,
      threshold: `queue at the socket's backlog (${s.listenBacklog})`,
      source: `the tier's listenBacklog (${s.listenBacklog}), uWSGI's listen, as the stats server reports it per socket`,
      check: {
        series: [
          { series: `uwsgi_socket_listen_queue{${firstSel},socket="${socket}"}`, firing: `${s.listenBacklog + 1}x30`, quiet: `${s.listenBacklog - 1}x30` },
          { series: `uwsgi_socket_listen_queue_max{${firstSel},socket="${socket}"}`, firing: `${s.listenBacklog}x30`, quiet: `${s.listenBacklog}x30` },
        ],
        labels: { ...first, socket },
      },
    },
  ];
}

/** memcached: connections against WS-MEMCACHED-CONNECTIONS, and evictions at its item memory. */
export function memcachedAlerts(t: Topology, c: CacheModel): AlertSpec[] {
  if (c.settings.engine !== "memcached") return [];
  const sel = `job="memcached",instance="${c.id}"`;
  const id = { job: "memcached", instance: c.id };
  const measurement = MEMCACHED_CONNECTIONS.measure(t).find((x) => x.constructPath === c.path);
  if (!measurement) throw new Error(`internal: no WS-MEMCACHED-CONNECTIONS measurement of ${c.path}`);
  const share = warnShare(MEMCACHED_CONNECTIONS, t);
  const threshold = share * measurement.limit;
  const items = memcachedItemMemoryMiB(c.settings);
  return [
    {
      group: c.id,
      component: c.path,
      // Read through the stats exporter, as uWSGI is: a memcached that does not answer is memcached_up 0, never `up` 0.
      name: "MemcachedDown",
      expr: `memcached_up{${sel}} == 0`,
      forSeconds: 60,
      severity: "critical",
      summary: `${c.path}: memcached does not answer: every cache read misses and goes to the database`,
      threshold: "memcached_up 0 for 1 min",
      source: `the Cache ${c.path} (memcached), read by the stats exporter`,
      check: { series: [{ series: `memcached_up{${sel}}`, firing: "0x30", quiet: "1x30" }], labels: id },
    },
    {
      group: c.id,
      component: c.path,
      name: "MemcachedConnectionsHigh",
      expr: `memcached_current_connections{${sel}} > ${num(threshold)}`,
      forSeconds: 300,
      severity: "warning",
      summary: `${c.path}: memcached connections above ${num(share * 100)} % of its limit ${measurement.limit}; past it memcached stops accepting`,
      threshold: `> ${num(threshold)} connections`,
      source: `WS-MEMCACHED-CONNECTIONS: warning share ${num(share)} x conn-limit ${measurement.limit}; the model counts ${measurement.used}`,
      check: { series: [gauge(`memcached_current_connections{${sel}}`, threshold)], labels: id },
    },
    {
      group: c.id,
      component: c.path,
      name: "MemcachedEvicting",
      expr: `increase(memcached_items_evicted_total{${sel}}[5m]) > 0`,
      forSeconds: 0,
      severity: "warning",
      summary: `${c.path}: memcached evicts items to make room: the cache is smaller than what the app keeps in it`,
      threshold: "any eviction in 5 min",
      source: `Cache memcached at item memory ${items} MiB (-m: four fifths of memoryMiB ${c.settings.memoryMiB})`,
      check: { series: [{ series: `memcached_items_evicted_total{${sel}}`, firing: "0+5x30", quiet: "7x30" }], labels: id },
    },
  ];
}
