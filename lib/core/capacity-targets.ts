/**
 * The end of the talk's loop, per web tier with a target or a measurement: how many nodes the
 * target needs at the measured rate, and whether the database and the other budgets allow that
 * many (the same rules, on a copy of the topology with the tier at that size).
 */
import type { Measurement } from "./budgets/rule";
import { DB_CONNECTIONS } from "./budgets/rules/clients";
import { nodesForTarget } from "./measurement";
import { componentsOf, withSettings, type Topology, type WebTierModel } from "./topology";
import { routeMaxconn, appRoutesTo } from "./derive";

export interface TargetAnswer {
  readonly constructPath: string;
  /** One sentence for people, e.g. "to serve 500 req/s at p99 <= 300 ms: 4 nodes of 8 processes (...)". */
  readonly summary: string;
  /** Whether the figures come from a measurement or are the library's assumptions. */
  readonly measured: boolean;
  /** Nodes the target needs at the measured rate (undefined without a target or a measurement). */
  readonly nodesNeeded?: number;
  /** Error rules that fail at that size, with their first failing subject. */
  readonly blockedBy: readonly string[];
}

type Failures = (path: string, field: string, value: number) => (Measurement & { readonly ruleId: string })[];

function databaseAt(t: Topology, w: WebTierModel): string {
  if (!w.database) return "";
  const m = DB_CONNECTIONS.measure(t).find((x) => x.constructPath === w.database!.path);
  return m ? `; database ${m.constructPath} ${m.used} of ${m.limit} usable connections` : "";
}

function maxconnOf(t: Topology, w: WebTierModel): string {
  const routes = appRoutesTo(t, w);
  return routes.length === 0 ? "" : `; HAProxy maxconn per server ${routes.map(({ route }) => routeMaxconn(t, route)).join(", ")}`;
}

function answerFor(t: Topology, w: WebTierModel, failures: Failures): TargetAnswer | undefined {
  const s = w.settings;
  const m = s.measured;
  if (s.targetRps === undefined && !m) return undefined;
  if (!m) {
    return {
      constructPath: w.path,
      measured: false,
      blockedBy: [],
      summary:
        `targetRps ${s.targetRps} at p99 <= ${s.latencyObjectiveMs} ms is not measured: ${s.nodes} nodes x ${s.processes} processes and ` +
        `${s.processRssMiB} MiB per process are assumptions. Measure: npx cdktf-webstack measure --tier ${w.path}`,
    };
  }
  const shape = `measured ${m.rpsPerProcess} req/s per process at ${m.processes} x ${m.threads}, ${m.rssMiBPerProcess} MiB each, ${m.measuredAt}`;
  if (s.targetRps === undefined) {
    const rate = Math.round(s.nodes * s.processes * m.rpsPerProcess);
    return { constructPath: w.path, measured: true, blockedBy: [], summary: `${s.nodes} nodes of ${s.processes} processes serve about ${rate} req/s at p99 <= ${m.latencyObjectiveMs} ms (${shape})` };
  }
  const needed = nodesForTarget(s.targetRps, m, s.processes);
  const at = withSettings(t, w.path, { nodes: needed });
  const tierAt = componentsOf(at, "webTier").find((c) => c.path === w.path)!;
  const blocked = needed === s.nodes ? [] : failures(w.path, "nodes", needed);
  const blockedBy = [...new Set(blocked.map((f) => `${f.ruleId} (${f.subject} ${f.used} > ${f.limit} ${f.unit})`))];
  return {
    constructPath: w.path,
    measured: true,
    nodesNeeded: needed,
    blockedBy,
    summary:
      `to serve ${s.targetRps} req/s at p99 <= ${m.latencyObjectiveMs} ms: ${needed} nodes of ${s.processes} processes (${shape})` +
      `${databaseAt(at, tierAt)}${maxconnOf(at, tierAt)}` +
      (blockedBy.length > 0 ? `; at that size these fail: ${blockedBy.join(", ")}` : ""),
  };
}

export function targetAnswers(t: Topology, failures: Failures): TargetAnswer[] {
  return componentsOf(t, "webTier").flatMap((w) => answerFor(t, w, failures) ?? []);
}
