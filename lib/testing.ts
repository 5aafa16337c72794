/**
 * Testing a stack, the cdktf way: synthesize it in memory and look at what it would deploy.
 *
 *   import { Testing } from "cdktf";
 *   import { synthWebStack } from "cdktf-webstack/testing";
 *
 *   const result = synthWebStack(buildShop(Testing.app()));
 *   expect(result.file("web-1-app", "/etc/webstack/uwsgi.ini")).toMatchSnapshot();
 *
 * cdktf's own helpers work too: `Testing.synth(stack)` (the cdk.tf.json) and
 * `Testing.fullSynth(stack)` (also the configs/ folder and capacity reports on disk).
 * `Testing.synthScope` cannot: it hands out a plain TerraformStack, and the constructs refuse to
 * be created outside a WebStack rather than synthesize nothing.
 */
import { Testing } from "cdktf";
import { evaluateBudgets, type Finding } from "./core/budgets/evaluate";
import type { ClusterPlan } from "./core/model";
import type { Topology } from "./core/topology";
import type { WebStack } from "./constructs/web-stack";

export interface SynthesizedWebStack {
  /** cdk.tf.json, parsed, as `Testing.synth` returns it (metadata removed, keys sorted). */
  readonly tfJson: { readonly resource: Record<string, Record<string, any>>; readonly variable?: Record<string, any>; readonly [key: string]: any };
  /** Every rendered file: container key -> path inside the container -> content. */
  readonly files: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Every budget finding (passed, warned, acknowledged). */
  readonly findings: readonly Finding[];
  /** The findings that are warnings, to assert none crept in. */
  readonly warnings: readonly Finding[];
  readonly plan: ClusterPlan;
  readonly topology: Topology;
  /** One rendered file; throws naming the files there are when it does not exist. */
  file(containerKey: string, path: string): string;
}

/**
 * Synthesizes `stack` in memory (no files written) and returns what it would deploy. A failing
 * budget rule throws its BudgetError, as synth does; use `budgetFindings` to look at failures.
 */
export function synthWebStack(stack: WebStack): SynthesizedWebStack {
  const tfJson = JSON.parse(Testing.synth(stack));
  const { plan, topology, findings } = stack.cluster();
  const files: Record<string, Record<string, string>> = {};
  for (const c of plan.containers) {
    if (c.files.length > 0) files[c.key] = Object.fromEntries(c.files.map((f) => [f.path, f.content]));
  }
  return {
    tfJson,
    files,
    findings,
    warnings: findings.filter((f) => f.status === "warn"),
    plan,
    topology,
    file(containerKey: string, path: string): string {
      const content = files[containerKey]?.[path];
      if (content === undefined) {
        const known = Object.entries(files).flatMap(([key, byPath]) => Object.keys(byPath).map((p) => `${key} ${p}`));
        throw new Error(`no rendered file ${path} in container ${containerKey}; there are:\n  ${known.join("\n  ")}`);
      }
      return content;
    },
  };
}

/** Every finding of the stack's rules, failures included, without synthesizing (nothing throws for a failed rule). */
export function budgetFindings(stack: WebStack): Finding[] {
  return evaluateBudgets(stack.topology(), stack.rules);
}
