/**
 * An alert rule generated from the model, with where its threshold comes from, and the synthetic
 * series that `promtool test rules` feeds it: one set just over the threshold (the alert fires with
 * exactly `labels`) and one just under (it stays quiet).
 */
import type { Rule } from "../budgets/rule";
import type { Topology } from "../topology";

export interface AlertSeries {
  /** A series as promtool writes it, e.g. `up{job="haproxy",instance="lb"}`. */
  readonly series: string;
  /** promtool expanding notation, one sample per minute: "158x30", "0+10x30". */
  readonly firing: string;
  readonly quiet: string;
}

export interface AlertSpec {
  /** Rule group: one per component, named after it. */
  readonly group: string;
  /** Construct path of what it watches: the `component` label of the alert. */
  readonly component: string;
  /** Labels of the rule beside `severity` and `component`, for alerts a component has several of. @default none */
  readonly ruleLabels?: Readonly<Record<string, string>>;
  readonly name: string;
  readonly expr: string;
  readonly forSeconds: number;
  readonly severity: "critical" | "warning";
  /** Static text (no templates), so the rendered rule and its test say the same. */
  readonly summary: string;
  /** The threshold in words, e.g. "> 157.6 connections". */
  readonly threshold: string;
  /** Where the number comes from: the budget rule, the prop, the model. */
  readonly source: string;
  readonly check: { readonly series: readonly AlertSeries[]; readonly labels: Readonly<Record<string, string>> };
}

/** The share of a limit above which a rule warns, as the evaluator applies it. */
export function warnShare(rule: Rule, t: Topology): number {
  return rule.warnAt === undefined || rule.warnAt === null ? t.settings.warnAtFraction : rule.warnAt;
}

/** A number as PromQL and people read it: at most 2 decimals, no trailing zeros. */
export const num = (n: number) => String(Math.round(n * 100) / 100);

/** The sample values just over and at-or-under `threshold` for a `> threshold` alert. */
export function around(threshold: number): { over: number; under: number } {
  const under = Math.floor(Math.round(threshold * 100) / 100);
  return { over: under + 1, under };
}

export function selector(metric: string, labels: Readonly<Record<string, string>>): string {
  return `${metric}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}}`;
}

/** `instance=~"a|b"` or `instance="a"`. */
export const oneOf = (values: readonly string[]) => (values.length === 1 ? `=${JSON.stringify(values[0])}` : `=~${JSON.stringify(values.join("|"))}`);

/** A `> threshold` gauge alert's series: one series, over and under. */
export function gauge(series: string, threshold: number): AlertSeries {
  const { over, under } = around(threshold);
  return { series, firing: `${over}x30`, quiet: `${under}x30` };
}
