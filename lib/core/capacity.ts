/**
 * The capacity answer: for the user's own stack, "200 max connections / 40 per web node = ???".
 * It probes the same rules the synth check runs, on copies of the topology with one knob turned,
 * so there is no second copy of the arithmetic. A probe re-evaluates only the rules that read the
 * knob (recorded once, as the rules run) and renders nothing.
 */
import { PATRONI_MIN_MAX_CONNECTIONS } from "./failover";
import { databaseClients, sumClients } from "./clients";
import { ackKey, acknowledgementIndex, evaluateRule } from "./budgets/evaluate";
import type { Measurement, Rule } from "./budgets/rule";
import { RULES } from "./budgets/rules";
import { targetAnswers, type TargetAnswer } from "./capacity-targets";
import { swarmTarget } from "./placement";
import { hostCapacities, renderHostCapacities, type HostCapacity } from "./swarm-capacity";
import { componentsOf, mapSettings, withSettings, type DatabaseModel, type Topology } from "./topology";

export interface Headroom {
  readonly constructPath: string;
  /** The knob turned: `nodes`, `processes` or `concurrency`. */
  readonly field: string;
  readonly current: number;
  /** Largest value for which every rule still passes (or the current value when it already fails). */
  readonly max: number;
  /** The first rule that fails one step beyond `max`, or the props schema's ceiling. */
  readonly stoppedBy: string;
  readonly detail: string;
}

export interface DatabaseNeed {
  readonly constructPath: string;
  readonly clients: number;
  readonly maxConnections: number;
  /** max_connections the topology needs: its clients plus the superuser reserve. */
  readonly neededMaxConnections: number;
  readonly memoryMiB: number;
  /** Smallest memory limit (64 MiB steps) for which WS-DB-MEMORY passes at neededMaxConnections. */
  readonly neededMemoryMiB: number;
}

export interface CapacityAnswer {
  readonly stack: string;
  readonly headroom: readonly Headroom[];
  /**
   * The same knobs with every acknowledgement set aside, where that changes the answer: an
   * acknowledged overcommit still uses the resource, and this says how far past it the stack is.
   */
  readonly withoutAcknowledgements: readonly Headroom[];
  readonly databases: readonly DatabaseNeed[];
  /** Web tiers with a target rate or a measurement: the nodes the target needs and what allows it. */
  readonly targets: readonly TargetAnswer[];
  /** Only on a swarm target: how much of each host is reserved, and how many more replicas of each tier fit. */
  readonly hosts?: readonly HostCapacity[];
}

const KNOBS: Record<string, { field: string; ceiling: number }[]> = {
  webTier: [
    { field: "nodes", ceiling: 250 },
    { field: "processes", ceiling: 512 },
  ],
  workerTier: [
    { field: "nodes", ceiling: 250 },
    { field: "concurrency", ceiling: 256 },
  ],
};

const readKey = (path: string, field: string) => `${path}\u0000${field}`;

/**
 * For each rule, the settings (construct path and field) it read while measuring `t`. Each rule
 * measures its own tracked copy: what layout.ts caches per topology or per settings object is then
 * worked out afresh for each rule, so every rule's reads are recorded, not only the first one's.
 */
function settingsRead(t: Topology, rules: readonly Rule[]): Map<Rule, Set<string>> {
  const byRule = new Map<Rule, Set<string>>();
  for (const rule of rules) {
    const reads = new Set<string>();
    const tracked = mapSettings(t, (c) => new Proxy(c.settings, {
      get(target, field, receiver) {
        if (typeof field === "string") reads.add(readKey(c.path, field));
        return Reflect.get(target, field, receiver);
      },
    }));
    rule.measure(tracked);
    byRule.set(rule, reads);
  }
  return byRule;
}

type Probed = Measurement & { readonly ruleId: string };

class Prober {
  private readonly acks;
  private readonly reads;

  constructor(
    private readonly t: Topology,
    private readonly rules: readonly Rule[],
    reads: Map<Rule, Set<string>>,
    honourAcknowledgements: boolean,
  ) {
    this.acks = acknowledgementIndex(honourAcknowledgements ? t.acknowledgements : []);
    this.reads = reads;
  }

  /**
   * The measurements of the error rules that read `field` of `path`, with it set to `value`, that an
   * acknowledgement does not cover (only those can fail). With `firstFailureOnly`, it stops at the
   * first rule with a failing measurement: a search step needs only whether it fails and, at the
   * last step, the first failure in rule order.
   */
  private measure(path: string, field: string, value: number, firstFailureOnly: boolean): Probed[] {
    const key = readKey(path, field);
    const probe = withSettings(this.t, path, { [field]: value });
    const out: Probed[] = [];
    for (const rule of this.rules) {
      if (rule.severity !== "error" || !this.reads.get(rule)!.has(key)) continue;
      let failed = false;
      for (const m of rule.measure(probe)) {
        if (this.acks.has(ackKey(m.constructPath, rule.id))) continue;
        out.push({ ...m, ruleId: rule.id });
        failed ||= m.used > m.limit;
      }
      if (firstFailureOnly && failed) break;
    }
    return out;
  }

  /** Failing measurements with `field` of `path` set to `value` (an error rule over its limit and not acknowledged: the status evaluateRule would call "fail"). */
  failures(path: string, field: string, value: number, firstOnly = false): Probed[] {
    const failed = this.measure(path, field, value, firstOnly).filter((m) => m.used > m.limit);
    return firstOnly ? failed.slice(0, 1) : failed;
  }

  /** Largest value of `field` on `path` that keeps every rule passing (rules are monotone in these knobs). */
  headroom(path: string, field: string, current: number, ceiling: number): Headroom {
    const failsAt = (v: number) => this.failures(path, field, v, true);
    const atCurrent = this.measure(path, field, current, false);
    const baseline = atCurrent.filter((m) => m.used > m.limit);
    if (baseline.length > 0) {
      let lo = 0;
      let hi = current;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (mid >= 1 && failsAt(mid).length === 0) lo = mid;
        else hi = mid;
      }
      return { constructPath: path, field, current, max: lo, stoppedBy: baseline[0].ruleId, detail: `${baseline[0].subject}: ${baseline[0].used} > ${baseline[0].limit} ${baseline[0].unit} already` };
    }
    const stopped = (max: number, fail: readonly Probed[]): Headroom =>
      fail.length === 0
        ? { constructPath: path, field, current, max: ceiling, stoppedBy: "props schema", detail: `${field} is at most ${ceiling}` }
        : { constructPath: path, field, current, max, stoppedBy: fail[0].ruleId, detail: `at ${max + 1}: ${fail[0].subject} ${fail[0].used} > ${fail[0].limit} ${fail[0].unit}` };
    // Most of these rules grow linearly in the knob: one step predicts where the first of them crosses
    // its limit, and two probes confirm it (the value passes, the next fails). Otherwise, the search.
    const guess = current < ceiling ? this.predictedMax(atCurrent, this.measure(path, field, current + 1, false), current, ceiling) : ceiling;
    if (guess !== undefined && failsAt(guess).length === 0) {
      if (guess === ceiling) return stopped(ceiling, []);
      const next = failsAt(guess + 1);
      if (next.length > 0) return stopped(guess, next);
    }
    let lo = current;
    let hi = current + 1;
    let fail: Probed[] = [];
    while (hi <= ceiling) {
      fail = failsAt(hi);
      if (fail.length > 0) break;
      lo = hi;
      hi = Math.min(ceiling + 1, current + (hi - current) * 2);
    }
    if (hi > ceiling) return stopped(ceiling, []);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      const f = failsAt(mid);
      if (f.length > 0) {
        hi = mid;
        fail = f;
      } else lo = mid;
    }
    return stopped(lo, fail);
  }

  /**
   * From the measurements at `current` and one step above it, the value at which the first of them
   * would cross its limit if each grew by the same step (at most the ceiling), or undefined when
   * none grew or the measurements do not pair up.
   */
  private predictedMax(at: readonly Probed[], above: readonly Probed[], current: number, ceiling: number): number | undefined {
    if (above.length !== at.length) return undefined;
    let max = ceiling;
    for (let i = 0; i < at.length; i++) {
      const [a, b] = [at[i], above[i]];
      if (a.ruleId !== b.ruleId || a.subject !== b.subject) return undefined;
      const step = b.used - b.limit - (a.used - a.limit);
      if (step > 0) max = Math.min(max, current + Math.floor((a.limit - a.used) / step));
    }
    return max;
  }

  /** The smallest memory (64 MiB steps) for which WS-DB-MEMORY passes at the max_connections the clients need. */
  databaseNeed(db: DatabaseModel): DatabaseNeed {
    const clients = sumClients(databaseClients(this.t, db));
    // Patroni replaces a max_connections below its minimum by its own default: the answer starts there.
    const needed = Math.max(clients + db.settings.superuserReservedConnections, db.settings.failover ? PATRONI_MIN_MAX_CONNECTIONS : 0);
    const memoryRule = this.rules.find((r) => r.id === "WS-DB-MEMORY")!;
    const memoryFails = (memoryMiB: number) =>
      evaluateRule(memoryRule, withSettings(this.t, db.path, { maxConnections: needed, memoryMiB }), this.acks).some((f) => f.status === "fail" && f.constructPath === db.path);
    let lo = 256;
    let hi = 256;
    while (memoryFails(hi) && hi < 1024 * 1024) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 64) {
      const mid = Math.ceil((lo + hi) / 2 / 64) * 64;
      if (memoryFails(mid)) lo = mid;
      else hi = mid;
    }
    return { constructPath: db.path, clients, maxConnections: db.settings.maxConnections, neededMaxConnections: needed, memoryMiB: db.settings.memoryMiB, neededMemoryMiB: hi };
  }
}

function headroomOf(t: Topology, prober: Prober): Headroom[] {
  return t.components.flatMap((c) =>
    (KNOBS[c.kind] ?? []).map((knob) => prober.headroom(c.path, knob.field, (c.settings as unknown as Record<string, number>)[knob.field], knob.ceiling)),
  );
}

export function capacityAnswer(t: Topology, rules: readonly Rule[] = RULES): CapacityAnswer {
  const reads = settingsRead(t, rules);
  const prober = new Prober(t, rules, reads, true);
  const headroom = headroomOf(t, prober);
  const bare = t.acknowledgements.length > 0 ? headroomOf(t, new Prober(t, rules, reads, false)) : headroom;
  const target = swarmTarget(t);
  const withoutAcknowledgements = bare.filter((h, i) => h.max !== headroom[i].max || h.stoppedBy !== headroom[i].stoppedBy);
  return {
    stack: t.stackName,
    headroom,
    withoutAcknowledgements,
    databases: componentsOf(t, "database").map((db) => prober.databaseNeed(db)),
    targets: targetAnswers(t, (path, field, value) => prober.failures(path, field, value)),
    ...(target ? { hosts: hostCapacities(t, target) } : {}),
  };
}

export function renderCapacityAnswer(a: CapacityAnswer): string {
  return [
    `## Headroom: ${a.stack}`,
    "",
    "How far each knob can turn, everything else unchanged, before a rule fails.",
    "",
    "| construct | knob | now | at most | stopped by | at the first failing step |",
    "| --- | --- | ---: | ---: | --- | --- |",
    ...a.headroom.map((h) => `| ${h.constructPath} | ${h.field} | ${h.current} | ${h.max} | ${h.stoppedBy} | ${h.detail} |`),
    "",
    ...(a.withoutAcknowledgements.length === 0
      ? []
      : [
          "Without the acknowledgements (an acknowledged overcommit still uses what it counts):",
          "",
          "| construct | knob | now | at most | stopped by | at the first failing step |",
          "| --- | --- | ---: | ---: | --- | --- |",
          ...a.withoutAcknowledgements.map((h) => `| ${h.constructPath} | ${h.field} | ${h.current} | ${h.max} | ${h.stoppedBy} (acknowledged) | ${h.detail} |`),
          "",
        ]),
    "| database | clients | max_connections now | needed | memory now (MiB) | memory needed at that max_connections (MiB) |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...a.databases.map((d) => `| ${d.constructPath} | ${d.clients} | ${d.maxConnections} | ${d.neededMaxConnections} | ${d.memoryMiB} | ${d.neededMemoryMiB} |`),
    "",
    ...(a.targets.length === 0 ? [] : ["Targets (the measure loop):", "", ...a.targets.map((x) => `- ${x.constructPath}: ${x.summary}`), ""]),
    ...(a.hosts ? renderHostCapacities(a.hosts) : []),
  ].join("\n");
}
