/**
 * Test-only applier: deploys a synthesized cdk.tf.json (kreuzwerker/docker 3.6.2 resources) onto the
 * suite's private Docker engine through the Engine API, with the provider's semantics, because this
 * machine cannot download Terraform providers.
 *
 * This file only gathers the applier's parts, so that the tests and scripts importing "./applier" need
 * not know how it is split:
 * - engine.ts: the private dockerd, the images, the prerequisites, the suite lock;
 * - template-eval.ts: strings as Terraform templates (references resolve, `$${`/`%%{` unescape, any
 *   other `${...}`/`%{...}` is a template problem that fails the apply unless `lenientTemplates`);
 * - provider-schema.ts: the attributes handled per resource (anything else fails the apply by name)
 *   and what they mean to the Engine API;
 * - apply.ts: apply, destroy, generated variables; observe.ts: inspect, logs, exec, waitHealthy.
 */
export { CI } from "../ci";
export { E2E_LABEL, apply, destroy, generateVariables, type AppliedContainer, type ApplyOptions, type Handle } from "./apply";
export { DockerApiError, SOCKET, SOCKET as ENGINE_SOCKET } from "./docker-api";
export { acquireSuiteLock, engineNofileHardLimit, ensureImages, imagesOf, missingPrerequisites, releaseSuiteLock, startEngine, stopEngine } from "./engine";
export { describeUnhealthy, exec, inspect, logs, waitHealthy, type ContainerInfo, type HealthReport } from "./observe";
export { durationNs } from "./provider-schema";
export { fmtProblem, renderTemplate, templateProblems, type TemplateProblem } from "./template-eval";
