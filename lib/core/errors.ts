/**
 * Errors raised by cdktf-webstack. Every message names the construct path first,
 * so a person reading a failed synth knows which line of their stack file to open.
 */
import type { ZodError } from "zod";

/** Base class, so callers can tell our errors from a crash. */
export class WebstackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad props, found at construction time, before anything is rendered. */
export class PropsError extends WebstackError {
  constructor(
    public readonly constructPath: string,
    public readonly problems: readonly string[],
  ) {
    super(`[${constructPath}] invalid props:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }

  /** Turns a zod error into one line per offending field, with the allowed values zod reports. */
  static fromZod(constructPath: string, error: ZodError): PropsError {
    const problems = error.issues.map((issue) => {
      const field = issue.path.length > 0 ? issue.path.map(String).join(".") : "(props)";
      // zod calls Infinity and NaN "received number" against "expected number", which reads as nonsense.
      const received = (issue as { received?: unknown }).received;
      if (issue.code === "invalid_type" && (received === "Infinity" || received === "NaN")) return `${field}: must be a finite number, got ${received}`;
      return `${field}: ${issue.message}`;
    });
    return new PropsError(constructPath, problems);
  }
}

/** A budget rule failed at synth time. The message carries every failing finding in full. */
export class BudgetError extends WebstackError {}
