import { App } from "cdktf";
import * as path from "node:path";
import { formatFinding } from "../core/budgets/evaluate";
import { WebstackError } from "../core/errors";
import { WebStack } from "./web-stack";

/** cdktf synth runs the app with this set, and prints the stacks' warnings itself. */
const UNDER_CDKTF_CLI = "CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS";

/** One paragraph per stack: what was synthesized, how the budgets went, and where it went. */
function summary(stack: WebStack): string {
  const { plan, findings } = stack.cluster();
  const count = (status: string) => findings.filter((f) => f.status === status).length;
  const where = stack.outputDirectory ? path.relative(process.cwd(), stack.outputDirectory) || "." : "(not written)";
  return [
    `${stack.node.id}: ${plan.containers.length} containers; budgets: ${count("pass")} passed, ${count("warn")} warned, ${count("acknowledged")} acknowledged`,
    `  wrote cdk.tf.json, capacity.md and configs/ to ${where}`,
  ].join("\n");
}

/**
 * Runs a stack file: synthesizes the app and prints one short summary per WebStack (and its
 * warnings, once each). A props or budget error prints its message alone, with no stack trace
 * (it only points into the library), and exits 1.
 *
 *   synthOrExit((app) => buildShop(app));   // catches the constructs' props errors too
 *   synthOrExit(app);                        // for an app built above
 */
export function synthOrExit(appOrBuild: App | ((app: App) => void)): App {
  try {
    const app = appOrBuild instanceof App ? appOrBuild : new App();
    if (!(appOrBuild instanceof App)) appOrBuild(app);
    app.synth();
    const stacks = app.node.findAll().filter((c): c is WebStack => c instanceof WebStack);
    const underCli = process.env[UNDER_CDKTF_CLI] !== undefined;
    for (const stack of stacks) {
      process.stdout.write(`${summary(stack)}\n`);
      if (underCli) continue;
      for (const f of stack.cluster().findings.filter((x) => x.status === "warn")) process.stderr.write(`\nwarning: ${formatFinding(f)}\n`);
    }
    return app;
  } catch (error) {
    if (!(error instanceof WebstackError)) throw error;
    process.stderr.write(`\n${error.message}\n`);
    process.exit(1);
  }
}
