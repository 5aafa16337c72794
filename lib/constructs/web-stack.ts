import { Annotations, Aspects, LocalBackend, TerraformBackend, TerraformStack, type IStackSynthesizer, type ISynthesisSession } from "cdktf";
import { Construct } from "constructs";
import * as path from "node:path";
import type { z } from "zod";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { assertBudgets, evaluateBudgets, formatFinding, type Finding } from "../core/budgets/evaluate";
import type { ClusterPlan } from "../core/model";
import { planCluster } from "../core/plan";
import { capacityReport, renderCapacityJson, renderCapacityMarkdown } from "../core/report";
import { stackSchema, type StackSettings } from "../core/schemas";
import type { Topology } from "../core/topology";
import { emitDockerResources, type EmittedResources } from "../docker/emit";
import { exportTopologyIfAsked, writeRenderedFiles } from "../docker/io";
import { capacityAnswer, type CapacityAnswer } from "../core/capacity";
import { Budgets } from "./budgets";
import { WebstackComponent, parseProps } from "./component";

export type WebStackProps = z.input<typeof stackSchema>;

/** What synth produced: the model, the plan, every budget finding and the Docker resources. */
export interface SynthesizedCluster {
  readonly topology: Topology;
  readonly plan: ClusterPlan;
  readonly findings: readonly Finding[];
  /** How far each tier can grow before a rule fails. */
  readonly answer: CapacityAnswer;
  readonly resources: EmittedResources;
}

/**
 * A Terraform stack holding one web cluster on one Docker engine: the provider, one network with a
 * fixed subnet, and the resources of every component created in it. Resources are emitted at synth
 * from the components' models, after the budget rules pass; a failed rule stops synth before
 * anything is written.
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
  private synthesized?: SynthesizedCluster;

  constructor(scope: Construct, id: string, props: WebStackProps = {}) {
    super(scope, id);
    this.settings = parseProps(this, stackSchema, props);
    this.prefix = this.settings.namePrefix ?? id.toLowerCase().replace(/[^a-z0-9-]/g, "-");
    this.provider = new DockerProvider(this, "docker", { host: this.settings.dockerHost });
    // Testing.synth runs aspects but not prepareStack; App.synth runs both. Either way, once.
    Aspects.of(this).add({ visit: (node) => node === this && this.cluster() });
    const inner: IStackSynthesizer = this.synthesizer;
    this.synthesizer = {
      synthesize: (session: ISynthesisSession) => {
        inner.synthesize(session);
        this.writeOutputs(session);
      },
    };
  }

  prepareStack(): void {
    this.cluster();
    super.prepareStack();
  }

  /** The framework-free model of the stack as its components describe it now. */
  topology(): Topology {
    const components = this.node
      .findAll()
      .filter(WebstackComponent.isComponent)
      .map((c) => c.toModel());
    return { stackName: this.node.id, stackPath: this.node.path, settings: this.settings, prefix: this.prefix, components, acknowledgements: Budgets.collect(this) };
  }

  /** Plans, checks and emits the cluster (once); throws a BudgetError when a rule fails. */
  cluster(): SynthesizedCluster {
    if (this.synthesized) return this.synthesized;
    const topology = this.topology();
    const plan = planCluster(topology);
    const findings = evaluateBudgets(topology, plan);
    exportTopologyIfAsked(topology);
    assertBudgets(findings);
    const answer = capacityAnswer(topology);
    for (const f of findings.filter((x) => x.status === "warn")) {
      const target = this.node.findAll().find((n) => n.node.path === f.constructPath) ?? this;
      Annotations.of(target).addWarning(formatFinding(f));
    }
    const certificateVariables = new Set(
      topology.components.flatMap((c) => (c.kind === "loadBalancer" && c.settings.https?.certificateVariable ? [c.settings.https.certificateVariable] : [])),
    );
    const resources = emitDockerResources(this, plan, certificateVariables);
    if (!this.node.children.some((c) => c instanceof TerraformBackend)) {
      // cdktf's default backend names an absolute path of the build machine; this one is relative to
      // the stack's working directory (cdktf.out/stacks/<id>) and lands in the same project-root file.
      new LocalBackend(this, { path: `../../../terraform.${this.node.id}.tfstate` });
    }
    this.synthesized = { topology, plan, findings, answer, resources };
    return this.synthesized;
  }

  private writeOutputs(session: ISynthesisSession): void {
    const { topology, plan, findings, answer } = this.cluster();
    const stackDir = path.join(session.outdir, session.manifest.forStack(this).workingDirectory);
    const report = capacityReport(topology, plan, findings, answer);
    writeRenderedFiles(stackDir, plan, { "capacity.md": renderCapacityMarkdown(report), "capacity.json": renderCapacityJson(report) });
  }
}
