/**
 * One measurement, as the talk did it by hand: deploy one node of the tier with its real files and
 * the services it needs, raise the load step by step until the latency objective or an error stops
 * it, note the memory of each process at every step, tear everything down, and return the file.
 */
import { MEASUREMENT_FORMAT, findKnee, type MeasurementFile, type MeasurementStep } from "../core/measurement";
import type { MeasureSubset } from "../core/measure-subset";
import { deploy, describeEngine, imageId, newRunId, remove, workerRssMiB } from "./engine";
import { runStep, wrkScript, type MixEntry } from "./load";

export interface MeasureOptions {
  readonly subset: MeasureSubset;
  /** Paths and weights; the health path and "/" when empty. */
  readonly mix: readonly MixEntry[];
  /** Seconds of load per step. */
  readonly stepSeconds: number;
  /** The last step's connections at most (steps double from 1). */
  readonly maxConnections: number;
  readonly log: (line: string) => void;
  readonly now?: () => Date;
}

/** 1, 2, 4, ... up to `max`, and `max` itself. */
export function connectionSteps(max: number): number[] {
  const steps: number[] = [];
  for (let c = 1; c < max; c *= 2) steps.push(c);
  steps.push(max);
  return steps;
}

/** Past the knee for good: two steps in a row missed the objective or had errors. */
function pastKnee(steps: readonly MeasurementStep[], objectiveMs: number): boolean {
  const missed = (s: MeasurementStep) => s.errors > 0 || s.p99Ms > objectiveMs;
  return steps.length >= 2 && missed(steps[steps.length - 1]) && missed(steps[steps.length - 2]);
}

export function measureTier(o: MeasureOptions): MeasurementFile {
  const s = o.subset;
  const mix = o.mix.length > 0 ? o.mix : [{ path: s.healthPath, weight: 1 }, { path: "/", weight: 1 }];
  const engine = describeEngine();
  const image = imageId(s.image);
  const runId = newRunId();
  const steps: MeasurementStep[] = [];
  o.log(`measuring ${s.tier} (${s.server}, ${s.processes} processes x ${s.threads} threads) on ${engine}; run ${runId}`);
  try {
    const { names } = deploy(s, runId, o.log);
    const app = names.get(s.app.key)!;
    const url = `http://${s.nginx.address}:${s.nginx.port}`;
    const script = wrkScript(mix, s.host);
    const timeoutMs = Math.max(2000, s.latencyObjectiveMs * 4);
    runStep(url, script, 1, Math.min(2, o.stepSeconds), timeoutMs); // warm-up: every process loads the app
    o.log(`  connections       req/s    p50 ms    p99 ms  errors  RSS MiB/process`);
    for (const connections of connectionSteps(o.maxConnections)) {
      const r = runStep(url, script, connections, o.stepSeconds, timeoutMs);
      const rss = Math.max(0, ...workerRssMiB(app, s.server));
      const step = { ...r, rssMiBPerProcess: Math.round(rss * 10) / 10 };
      steps.push(step);
      o.log(`  ${String(connections).padStart(11)} ${r.rps.toFixed(1).padStart(11)} ${r.p50Ms.toFixed(1).padStart(9)} ${r.p99Ms.toFixed(1).padStart(9)} ${String(r.errors).padStart(7)} ${step.rssMiBPerProcess.toFixed(1).padStart(16)}`);
      if (pastKnee(steps, s.latencyObjectiveMs)) break;
    }
  } finally {
    remove(runId);
    o.log(`  removed the containers, volumes and network of run ${runId}`);
  }
  const knee = findKnee(steps, s.latencyObjectiveMs);
  o.log(knee ? `knee: ${knee.rps} req/s at ${knee.connections} connections (p99 ${knee.p99Ms} ms <= ${s.latencyObjectiveMs} ms), ${(knee.rps / s.processes).toFixed(1)} req/s per process` : `no step met p99 <= ${s.latencyObjectiveMs} ms without errors`);
  return {
    format: MEASUREMENT_FORMAT,
    tier: s.tier,
    measuredAt: (o.now ?? (() => new Date()))().toISOString().replace(/\.\d{3}Z$/, "Z"),
    engine,
    image: s.image,
    imageId: image,
    server: s.server,
    latencyObjectiveMs: s.latencyObjectiveMs,
    requestMix: mix.map((m) => ({ path: m.path, weight: m.weight })),
    runs: [{ processes: s.processes, threads: s.threads, steps }],
  };
}
