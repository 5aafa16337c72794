/**
 * What a budget rule is, for ours and for users' own: an id, a title, a severity, why it exists,
 * and a check that measures the topology. Rules come in packs; a stack runs the core pack and the
 * packs its author adds, and acknowledgements work the same for every pack.
 */
import type { ClientLine } from "../clients";
import { sumClients } from "../clients";
import type { Topology } from "../topology";
import { formatMiB } from "../units";

/** One measured budget: `used` must not exceed `limit`. */
export interface Measurement {
  readonly constructPath: string;
  /** What was measured, e.g. "db-primary max_connections". */
  readonly subject: string;
  readonly used: number;
  readonly limit: number;
  readonly unit: string;
  /** The arithmetic, one step per line. */
  readonly lines: readonly string[];
  /** What to change when it does not fit. */
  readonly fix: string;
}

export interface Rule {
  /** Stable id, upper case words joined by '-', e.g. "WS-DB-CONNECTIONS" or "ACME-WEB-PROCESSES". */
  readonly id: string;
  readonly title: string;
  readonly severity: "error" | "warning";
  /** Why the rule exists, for the docs. */
  readonly rationale: string;
  /**
   * Share of the limit above which a passing measurement is a warning. `null` for rules whose
   * derived value equals its limit by design (a standby's settings, a derived maxconn).
   * @default the stack's warnAtFraction (0.8)
   */
  readonly warnAt?: number | null;
  /**
   * Measures the topology: one measurement per construct (or route, or setting) the rule applies
   * to. Pure: it reads the model only, so the capacity probes can call it on a changed copy.
   */
  measure(topology: Topology): Measurement[];
}

/** A named set of rules, as a stack runs them: the core pack, then the packs the stack adds. */
export interface RulePack {
  /** Shown in the docs and in errors, e.g. "acme-platform". */
  readonly name: string;
  readonly rules: readonly Rule[];
}

/** A measurement on one component: its subject starts with the component id, as every message does. */
export function measured(component: { readonly path: string; readonly id: string }, what: string, m: Omit<Measurement, "constructPath" | "subject">): Measurement {
  return { constructPath: component.path, subject: `${component.id} ${what}`, ...m };
}

export const clientLines = (lines: readonly ClientLine[]) => lines.map((l) => `${l.source}: ${l.formula} = ${l.count}`);

/** A measurement of clients against a server's connection limit: the common shape of the client rules. */
export function clientBudget(component: { path: string; id: string }, limitName: string, clients: readonly ClientLine[], limit: number, fixField: string): Measurement {
  const used = sumClients(clients);
  return measured(component, limitName, {
    used,
    limit,
    unit: "connections",
    lines: [...clientLines(clients), `total = ${used}`, `${limitName} = ${limit}`],
    fix: `raise ${fixField} of ${component.path} to at least ${used}`,
  });
}

export const mib = (n: number) => formatMiB(n);
