/**
 * cdktf captures a full stack trace for every token and attribute list it creates (thousands per
 * stack of a hundred containers) and formats it at once. Under tsx or ts-node every frame of those
 * traces is mapped back through source maps, which made that formatting the largest single cost of
 * a synth. The traces of the resources this library emits point into the library, not into the
 * user's stack file, so while it emits and while cdktf serializes the stack, frames are formatted
 * as V8 prints them, without source maps, and only the first few.
 */
type PrepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** Frames kept: the emitter and cdktf's own; deeper ones are the synth machinery above them. */
const FRAMES = 12;

const plain: PrepareStackTrace = (error, frames) => [String(error), ...frames.slice(0, FRAMES).map((f) => `    at ${f}`)].join("\n");

export function withPlainStackTraces<T>(fn: () => T): T {
  const previous = Error.prepareStackTrace as PrepareStackTrace | undefined;
  Error.prepareStackTrace = plain;
  try {
    return fn();
  } finally {
    if (previous) Error.prepareStackTrace = previous;
    else delete (Error as { prepareStackTrace?: PrepareStackTrace }).prepareStackTrace;
  }
}
