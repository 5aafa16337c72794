import { Annotations, Aspects, LocalBackend, TerraformBackend, TerraformStack, type IStackSynthesizer, type ISynthesisSession } from "cdktf";
import { Construct } from "constructs";
import * as path from "node:path";
import type { z } from "zod";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { assertBudgets, evaluateBudgets, formatFinding, type Finding } from "../core/budgets/evaluate";
import { stackRules } from "../core/budgets/packs";
import type { Rule, RulePack } from "../core/budgets/rule";
import { capacityAnswer, renderCapacityAnswer, type CapacityAnswer } from "../core/capacity";
import type { ClusterPlan } from "../core/model";
import { planCluster } from "../core/plan";
import { measureSubset } from "../core/measure-subset";
import { topPlan } from "../core/top/plan";
import { assertSwarmSupported } from "../core/placement";
import { capacityReport, renderCapacityJson, renderCapacityMarkdown } from "../core/report";
import { stackSchema, type StackSettings } from "../core/schemas";
import type { ComponentModel, Topology } from "../core/topology";
import { emitDockerResources, type EmittedResources } from "../docker/emit";
import { emitSwarmResources, type EmittedSwarmResources } from "../docker/emit-swarm";
import { exportCapacityIfAsked, exportMeasureSubsetIfAsked, exportTopPlanIfAsked, writeRenderedFiles } from "../docker/io";
import { withPlainStackTraces } from "../docker/stack-traces";
import { PropsError } from "../core/errors";
import { secretRef } from "../core/secrets";
import { Budgets } from "./budgets";
import { WebstackComponent, parseProps, type ModelResolver } from "./component";
import { attachStackState, type StackState } from "./stack-state";

export type WebStackProps = z.input<typeof stackSchema> & {
  /**
   * Rule packs run after the core rules, on every synth: your own budgets, with ids, docs and
   * acknowledgements that work the same as ours (see RulePack). @default []
   */
  readonly rulePacks?: readonly RulePack[];
};

/** What synth produced: the model, the plan, every budget finding and the Docker resources. */
export interface SynthesizedCluster {
  readonly topology: Topology;
  readonly plan: ClusterPlan;
  /** Every rule the stack runs: the core rules, then its rule packs'. */
  readonly rules: readonly Rule[];
  readonly findings: readonly Finding[];
  /** How far each tier can grow before a rule fails; computed on first read. */
  readonly answer: CapacityAnswer;
  /** The provider resources: containers on one engine, services on a swarm (`target`). */
  readonly resources: EmittedResources | EmittedSwarmResources;
}

/**
 * A Terraform stack holding one web cluster on one Docker engine: the provider, one network with a
 * fixed subnet, and the resources of every component created in it.
 *
 * Synth lifecycle: `cluster()` models, plans, checks and emits, once. Every synth path reaches it
 * through one aspect on the stack (`App.synth`, `cdktf synth`, `Testing.synth`, `Testing.fullSynth`
 * all invoke aspects before they read the stack); a failed rule stops it before any resource exists.
 * After it, adding or rewiring a construct is refused. The synthesizer then writes the rendered
 * files and the capacity report beside cdk.tf.json, the only file I/O of a synth.
 */
export class WebStack extends TerraformStack {
  static of(construct: Construct): WebStack {
    const stack = construct.node.scopes.find((s): s is WebStack => s instanceof WebStack);
    if (!stack) throw new Error(`${construct.node.path}: cdktf-webstack constructs must be created inside a WebStack`);
    return stack;
  }

  public readonly settings: StackSettings;
  /** Prefix of every Docker object name. */
  public readonly prefix: string;
  public readonly provider: DockerProvider;
  /** The rules this stack runs: the core rules, then those of `rulePacks`. */
  public readonly rules: readonly Rule[];
  private readonly state: StackState;
  private built?: SynthesizedCluster;
  private writtenTo?: string;

  constructor(scope: Construct, id: string, props: WebStackProps = {}) {
    super(scope, id);
    const outer = scope.node.scopes.find((s) => TerraformStack.isStack(s));
    if (outer) {
      throw new PropsError(this.node.path, [
        `a WebStack is a Terraform stack of its own: create it in the App, not inside ${outer.node.path} (in tests: new WebStack(Testing.app(), id), then synthWebStack from cdktf-webstack/testing)`,
      ]);
    }
    const { rulePacks = [], ...settings } = props ?? {};
    this.settings = parseProps(this, stackSchema, settings);
    this.rules = stackRules(this.node.path, rulePacks, this.settings.target?.kind === "swarm");
    this.state = { rules: this.rules };
    attachStackState(this, this.state);
    this.prefix = this.settings.namePrefix ?? id.toLowerCase().replace(/[^a-z0-9-]/g, "-");
    this.provider = new DockerProvider(this, "docker", { host: this.settings.dockerHost });
    Aspects.of(this).add({ visit: (node) => node === this && this.cluster() });
    const inner: IStackSynthesizer = this.synthesizer;
    this.synthesizer = {
      synthesize: (session: ISynthesisSession) => {
        withPlainStackTraces(() => inner.synthesize(session));
        this.writeOutputs(session);
      },
    };
  }

  /**
   * A secret of `appSecrets` for a tier's `environment` (`DJANGO_SECRET_KEY: stack.secret("django_secret_key")`):
   * the sensitive variable's value reaches the container, never the code or the rendered files.
   */
  secret(name: string): string {
    if (!Object.hasOwn(this.settings.appSecrets, name)) {
      const known = Object.keys(this.settings.appSecrets);
      throw new PropsError(this.node.path, [`secret("${name}"): not in appSecrets; declare it there (appSecrets: { ${name}: "what it protects" })${known.length ? `; appSecrets has: ${known.join(", ")}` : ""}`]);
    }
    return secretRef(name);
  }

  /**
   * cdktf's default backend names an absolute path of the build machine; this one is relative to the
   * stack's working directory (cdktf.out/stacks/<id>) and lands in the same project-root file.
   */
  ensureBackendExists(): TerraformBackend {
    if (!this.node.children.some((c) => c instanceof TerraformBackend)) {
      new LocalBackend(this, { path: `../../../terraform.${this.node.id}.tfstate` });
    }
    return super.ensureBackendExists();
  }

  /** The framework-free model of the stack as its components describe it now. */
  topology(): Topology {
    const models = new Map<WebstackComponent, ComponentModel>();
    const resolve: ModelResolver = <M extends ComponentModel>(component: WebstackComponent): M => {
      let model = models.get(component);
      if (!model) {
        model = component.toModel(resolve);
        models.set(component, model);
      }
      return model as M;
    };
    const components = this.node.findAll().filter(WebstackComponent.isComponent).map((c) => resolve(c));
    return { stackName: this.node.id, stackPath: this.node.path, settings: this.settings, prefix: this.prefix, components, acknowledgements: Budgets.collect(this) };
  }

  /** Models, plans, checks and emits the cluster (once); throws a BudgetError when a rule fails. */
  cluster(): SynthesizedCluster {
    if (this.built) return this.built;
    const topology = this.topology();
    assertSwarmSupported(topology);
    const rules = this.rules;
    const findings = evaluateBudgets(topology, rules);
    exportCapacityIfAsked(topology.stackName, () => renderCapacityAnswer(capacityAnswer(topology, rules)));
    exportMeasureSubsetIfAsked(topology.stackName, (tier) => measureSubset(topology, planCluster(topology), tier));
    exportTopPlanIfAsked(topology.stackName, () => topPlan(topology, planCluster(topology)));
    assertBudgets(findings);
    const plan = planCluster(topology);
    const paths = new Map(this.node.findAll().map((n) => [n.node.path, n]));
    for (const f of findings.filter((x) => x.status === "warn")) {
      // cdktf prefixes each annotation with its construct's path; the finding's own would repeat it.
      Annotations.of(paths.get(f.constructPath) ?? this).addWarning(formatFinding(f).replace(`[${f.constructPath}] `, ""));
    }
    const resources = withPlainStackTraces(() => (plan.target ? emitSwarmResources(this, plan) : emitDockerResources(this, plan)));
    this.ensureBackendExists();
    let answer: CapacityAnswer | undefined;
    this.built = {
      topology,
      plan,
      rules,
      findings,
      resources,
      get answer() {
        return (answer ??= capacityAnswer(topology, rules));
      },
    };
    this.state.builtAt = this.node.path;
    return this.built;
  }

  private writeOutputs(session: ISynthesisSession): void {
    const { topology, plan, rules, findings, answer } = this.cluster();
    const stackDir = path.join(session.outdir, session.manifest.forStack(this).workingDirectory);
    const report = capacityReport(topology, plan, rules, findings, answer);
    writeRenderedFiles(stackDir, plan, { "capacity.md": renderCapacityMarkdown(report), "capacity.json": renderCapacityJson(report) });
    this.writtenTo = stackDir;
  }

  /** Where the last synth wrote cdk.tf.json, capacity.md and configs/ (undefined before an App synth). */
  get outputDirectory(): string | undefined {
    return this.writtenTo;
  }
}
