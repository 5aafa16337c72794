/**
 * The talk's "Measure!" loop, framework-free: the file `cdktf-webstack measure` writes, how its
 * knee is found, and what a web tier takes from it (requests per second per process at the latency
 * objective, resident memory per process under that load).
 */
import { z } from "zod";
import type { WebTierSettings } from "./schemas";
import { MAX_WEB_NODES } from "./schemas/web-tier";

export const MEASUREMENT_FORMAT = "cdktf-webstack-measurement/1";

const ms = z.number().min(0);

/** One load step: wrk with `connections` open connections for a bounded time. */
export const measurementStepSchema = z
  .object({
    connections: z.number().int().min(1),
    requests: z.number().int().min(0),
    /** Socket errors, timeouts and non-2xx/3xx responses. */
    errors: z.number().int().min(0),
    rps: z.number().min(0),
    p50Ms: ms,
    p99Ms: ms,
    /** Resident memory of each worker process at the end of the step (the largest), MiB. */
    rssMiBPerProcess: z.number().min(0),
  })
  .strict();

/** The steps at one processes x threads shape of the tier. */
export const measurementRunSchema = z
  .object({
    processes: z.number().int().min(1),
    threads: z.number().int().min(1),
    steps: z.array(measurementStepSchema).min(1),
  })
  .strict();

export const measurementFileSchema = z
  .object({
    format: z.literal(MEASUREMENT_FORMAT),
    /** Construct path of the tier measured, e.g. "shop/web". */
    tier: z.string().min(1),
    /** When, so a stale measurement is visible (ISO 8601, UTC). */
    measuredAt: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
    /** The engine and machine, e.g. "Docker 20.10.24, 2 CPUs, 23.5 GiB". */
    engine: z.string().min(1),
    image: z.string().min(1),
    /** Image id (content digest) of `image` on that engine. */
    imageId: z.string().min(1),
    server: z.enum(["uwsgi", "gunicorn"]),
    latencyObjectiveMs: z.number().int().min(1),
    /** Paths requested, by weight. */
    requestMix: z.array(z.object({ path: z.string().startsWith("/"), weight: z.number().int().min(1) }).strict()).min(1),
    runs: z.array(measurementRunSchema).min(1),
  })
  .strict();

export type MeasurementStep = z.infer<typeof measurementStepSchema>;
export type MeasurementRun = z.infer<typeof measurementRunSchema>;
export type MeasurementFile = z.infer<typeof measurementFileSchema>;

/** The highest rate with no error and the latency objective met, or undefined when no step met it. */
export function findKnee(steps: readonly MeasurementStep[], objectiveMs: number): MeasurementStep | undefined {
  let knee: MeasurementStep | undefined;
  for (const s of steps) {
    if (s.errors === 0 && s.p99Ms <= objectiveMs && s.requests > 0 && (!knee || s.rps > knee.rps)) knee = s;
  }
  return knee;
}

/** What a web tier takes from a measurement. */
export interface MeasuredRate {
  /** The file, as the `measurement` prop names it. */
  readonly file: string;
  readonly processes: number;
  readonly threads: number;
  /** Requests per second of one process at the knee: the knee's rate / processes. */
  readonly rpsPerProcess: number;
  /** p99 at the knee, ms. */
  readonly kneeP99Ms: number;
  /** Resident memory per worker process at the knee, MiB (rounded up). */
  readonly rssMiBPerProcess: number;
  readonly latencyObjectiveMs: number;
  readonly measuredAt: string;
  readonly engine: string;
  readonly image: string;
  readonly imageId: string;
}

/**
 * The run of `file` that fits a tier of `threads` threads per process (the one with the most
 * processes up to the tier's, else the fewest), reduced to its knee; or why there is none.
 */
export function measuredRate(fileName: string, file: MeasurementFile, tier: { processes: number; threads: number }): MeasuredRate | string {
  const same = file.runs.filter((r) => r.threads === tier.threads);
  if (same.length === 0) {
    const shapes = file.runs.map((r) => `${r.processes} x ${r.threads}`).join(", ");
    return `measured only at processes x threads ${shapes}, and the tier runs ${tier.threads} threads per process: measure again at its shape`;
  }
  const atMost = same.filter((r) => r.processes <= tier.processes).sort((a, b) => b.processes - a.processes);
  const run = atMost[0] ?? [...same].sort((a, b) => a.processes - b.processes)[0];
  const knee = findKnee(run.steps, file.latencyObjectiveMs);
  if (!knee) return `no step of the ${run.processes} x ${run.threads} run met p99 <= ${file.latencyObjectiveMs} ms without errors: measure again from fewer connections`;
  return {
    file: fileName,
    processes: run.processes,
    threads: run.threads,
    rpsPerProcess: Math.round((knee.rps / run.processes) * 10) / 10,
    kneeP99Ms: knee.p99Ms,
    rssMiBPerProcess: Math.ceil(knee.rssMiBPerProcess),
    latencyObjectiveMs: file.latencyObjectiveMs,
    measuredAt: file.measuredAt,
    engine: file.engine,
    image: file.image,
    imageId: file.imageId,
  };
}

/** Web nodes of `processes` processes that serve `targetRps` at the measured rate (at most a tier's ceiling; WS-WEB-TARGET says when that is short). */
export function nodesForTarget(targetRps: number, rate: MeasuredRate, processes: number): number {
  return Math.min(MAX_WEB_NODES, Math.max(1, Math.ceil(targetRps / (rate.rpsPerProcess * processes))));
}

/** The file's text: keys in schema order, two-space JSON, one trailing newline (deterministic). */
export function renderMeasurementFile(m: MeasurementFile): string {
  return `${JSON.stringify(measurementFileSchema.parse(m), null, 2)}\n`;
}

/**
 * A web tier's settings with its measurement applied: explicit props win; `nodes` left unset
 * follows from `targetRps`, and `processRssMiB` left unset becomes the measured resident size.
 */
export function withMeasurement(
  s: WebTierSettings,
  given: { readonly nodes: boolean; readonly processRssMiB: boolean },
  rate: MeasuredRate,
): WebTierSettings {
  const fromTarget = !given.nodes && s.targetRps !== undefined;
  return {
    ...s,
    measured: rate,
    ...(fromTarget ? { nodes: nodesForTarget(s.targetRps!, rate, s.processes), nodesFromTarget: true } : {}),
    ...(given.processRssMiB ? {} : { processRssMiB: Math.max(1, rate.rssMiBPerProcess) }),
  };
}

/** How a tier's node count came about, for the arithmetic lines: "" or " (for targetRps 500 at 16.2 req/s per process)". */
export function nodesNote(s: WebTierSettings): string {
  return s.nodesFromTarget && s.measured ? ` (for targetRps ${s.targetRps} at ${s.measured.rpsPerProcess} req/s per process)` : "";
}
