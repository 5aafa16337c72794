import type { App } from "cdktf";
import { WebstackError } from "../core/errors";

/**
 * `app.synth()` for stack files: a budget or props error prints its message alone (no stack
 * trace, which only points into the library) and exits non-zero, so `cdktf synth` fails cleanly.
 */
export function synthOrExit(app: App): void {
  try {
    app.synth();
  } catch (error) {
    if (!(error instanceof WebstackError)) throw error;
    process.stderr.write(`\n${error.message}\n`);
    process.exit(1);
  }
}
