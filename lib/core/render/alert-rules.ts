/**
 * The Prometheus alerting rules file, and its `promtool test rules` file: for every alert, the series
 * just over its threshold (it fires, with exactly its labels) and just under (it stays quiet).
 */
import type { AlertSpec } from "../alerts";
import { toYaml } from "./yaml";

const HEADER = "Rendered by cdktf-webstack from the stack's model and budgets. Edit the stack, not this file.";

const duration = (seconds: number) => (seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`);

function annotations(a: AlertSpec): Record<string, string> {
  return { summary: a.summary, threshold: a.threshold, source: a.source };
}

const ruleLabels = (a: AlertSpec): Record<string, string> => ({ severity: a.severity, component: a.component, ...a.ruleLabels });

export function renderAlertRules(alerts: readonly AlertSpec[]): string {
  const groups = [...new Set(alerts.map((a) => a.group))];
  return toYaml(
    {
      groups: groups.map((group) => ({
        name: group,
        rules: alerts
          .filter((a) => a.group === group)
          .map((a) => ({
            alert: a.name,
            expr: a.expr,
            for: duration(a.forSeconds),
            labels: ruleLabels(a),
            annotations: annotations(a),
          })),
      })),
    },
    HEADER,
  );
}

/** When the tests look: past every `for` and 5-minute rate window, inside the 30 minutes of samples. */
const EVAL_TIME = "20m";

export function renderAlertTests(alerts: readonly AlertSpec[], rulesFile: string): string {
  const cases = alerts.flatMap((a) => [
    {
      interval: "1m",
      input_series: a.check.series.map((s) => ({ series: s.series, values: s.firing })),
      alert_rule_test: [{ eval_time: EVAL_TIME, alertname: a.name, exp_alerts: [{ exp_labels: { ...a.check.labels, ...ruleLabels(a) }, exp_annotations: annotations(a) }] }],
    },
    {
      interval: "1m",
      input_series: a.check.series.map((s) => ({ series: s.series, values: s.quiet })),
      alert_rule_test: [{ eval_time: EVAL_TIME, alertname: a.name, exp_alerts: [] }],
    },
  ]);
  return toYaml({ rule_files: [rulesFile], evaluation_interval: "1m", tests: cases }, HEADER);
}
