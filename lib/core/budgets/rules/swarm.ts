/**
 * Swarm rules: they measure only a stack whose target is a swarm (none on one engine). What each
 * host may have to carry fits its memory, the members of one PostgreSQL cluster (and of its etcd
 * cluster) are on different hosts, and the managers keep a quorum.
 */
import { databaseSlots } from "../../layout";
import { componentPlacement, hostsWithRole, swarmTarget } from "../../placement";
import { hostLoads } from "../../swarm-capacity";
import { componentsOf } from "../../topology";
import { mib, type Rule } from "../rule";

export const SWARM_HOST_MEMORY: Rule = {
  id: "WS-SWARM-HOST-MEMORY",
  title: "What a swarm host may carry fits its memory",
  severity: "error",
  rationale:
    "A service reserves its memory limit on the host each task runs on, and the scheduler leaves a task pending where no host has the reservation free. " +
    "A host may carry its pinned members and, of every spread service its roles allow, as many replicas as the service may put on one host " +
    "(enough for every replica to find a host when one host is drained or lost); that sum must fit the host's memoryMiB.",
  warnAt: 0.9,
  measure: (t) => {
    const target = swarmTarget(t);
    if (!target) return [];
    return hostLoads(t, target).map(({ host, lines, reservedMiB }) => ({
      constructPath: t.stackPath,
      subject: `host ${host.name} memory reservations`,
      used: reservedMiB,
      limit: host.memoryMiB,
      unit: "MiB",
      lines: [
        ...lines.map((l) => `${l.service}: ${l.pinned ? "pinned here" : `at most ${l.replicas} replica${l.replicas > 1 ? "s" : ""} here`} = ${mib(l.memoryMiB)}`),
        `reserved = ${mib(reservedMiB)} against ${host.name} memoryMiB ${mib(host.memoryMiB)}`,
      ],
      fix: `raise memoryMiB of host ${host.name}, add a host with its roles (${host.roles.join(", ")}), or lower the nodes or memory of the tiers it carries`,
    }));
  },
};

export const SWARM_PG_SPREAD: Rule = {
  id: "WS-SWARM-PG-SPREAD",
  title: "The members of one PostgreSQL cluster, and of its etcd cluster, run on different swarm hosts",
  severity: "error",
  warnAt: null,
  rationale:
    "A standby on its primary's host is lost with it: the data has one copy per host, not per member. Each member (with failover, each Patroni member) is pinned to a data host (its volume is local), " +
    "so a cluster of primary + N standbys needs N + 1 hosts with the 'data' role. With failover the etcd members holding Patroni's leader lock are spread the same way: " +
    "two of three on one host would take the quorum with that host, and no standby could be promoted.",
  measure: (t) => {
    const target = swarmTarget(t);
    if (!target) return [];
    const dataHosts = hostsWithRole(target, "data").length;
    return componentsOf(t, "database").flatMap((db) => {
      if (dataHosts === 0) return []; // the plan refuses it with a props error naming the role
      const placement = componentPlacement(target, db);
      const slots = databaseSlots(db);
      const groups = [
        { what: "members", keys: [slots.primary, ...slots.replicas].map((s) => s.key), fix: `lower replicas of ${db.path} to ${Math.max(0, dataHosts - 1)}` },
        ...(slots.etcd.length > 0 ? [{ what: "etcd members", keys: slots.etcd.map((s) => s.key), fix: `lower failover.etcdMembers of ${db.path} to ${dataHosts % 2 === 1 ? dataHosts : dataHosts - 1}` }] : []),
      ];
      return groups.map(({ what, keys, fix }) => {
        const perHost = new Map<string, string[]>();
        for (const key of keys) {
          const host = placement.get(key)?.host;
          if (host !== undefined) perHost.set(host, [...(perHost.get(host) ?? []), key]);
        }
        const most = Math.max(...[...perHost.values()].map((k) => k.length));
        return {
          constructPath: db.path,
          subject: `${db.id} ${what} per host`,
          used: most,
          limit: 1,
          unit: what,
          lines: [...[...perHost].map(([host, k]) => `${host}: ${k.join(", ")}`), `${keys.length} ${what} on ${dataHosts} data host${dataHosts > 1 ? "s" : ""}`],
          fix: `give ${keys.length} hosts the 'data' role, or ${fix}`,
        };
      });
    });
  },
};

export const SWARM_QUORUM: Rule = {
  id: "WS-SWARM-QUORUM",
  title: "The swarm managers form an odd quorum of 1, 3 or 5",
  severity: "error",
  warnAt: null,
  rationale:
    "Raft needs a majority of the managers: with 2 or 4 the loss of one leaves no more tolerance than 1 or 3 give (and 2 tolerate no loss at all), " +
    "and beyond 5 every write waits for more acknowledgements. With 3 or 5 losing one manager keeps a majority; 1 keeps none but is a valid test swarm.",
  measure: (t) => {
    const target = swarmTarget(t);
    if (!target) return [];
    const managers = hostsWithRole(target, "manager").map((h) => h.name);
    const n = managers.length;
    const majority = Math.floor(n / 2) + 1;
    return [
      {
        constructPath: t.stackPath,
        subject: "swarm managers",
        used: [1, 3, 5].includes(n) ? 0 : 1,
        limit: 0,
        unit: "quorum problems",
        lines: [`managers: ${managers.join(", ") || "none"} (${n})`, `majority = ${majority}; managers that may be lost = ${n - majority}`, "allowed: 1, 3 or 5 managers"],
        fix: `give ${n < 3 ? 3 : n < 5 ? (n === 4 ? "3 or 5" : 5) : 5} hosts the 'manager' role`,
      },
    ];
  },
};
