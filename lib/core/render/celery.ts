/** Celery command lines: the worker, the single beat scheduler and Flower. */

export interface CeleryWorkerConfig {
  readonly app: string;
  readonly nodeName: string;
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  readonly maxTasksPerChild: number;
  readonly queues: readonly string[];
}

export function celeryWorkerCommand(c: CeleryWorkerConfig): string[] {
  return [
    "celery",
    `--app=${c.app}`,
    "worker",
    `--hostname=${c.nodeName}@%h`,
    "--pool=prefork",
    `--concurrency=${c.concurrency}`,
    `--prefetch-multiplier=${c.prefetchMultiplier}`,
    `--max-tasks-per-child=${c.maxTasksPerChild}`,
    `--queues=${c.queues.join(",")}`,
    "--loglevel=INFO",
    "--without-gossip",
  ];
}

/** Beat keeps its schedule state in /tmp: losing it only re-runs the next due tasks once. */
export function celeryBeatCommand(app: string): string[] {
  return ["celery", `--app=${app}`, "beat", "--loglevel=INFO", "--schedule=/tmp/celerybeat-schedule", "--pidfile="];
}

export const FLOWER_PORT = 5555;

export function flowerCommand(app: string): string[] {
  return ["celery", `--app=${app}`, "flower", `--port=${FLOWER_PORT}`, "--address=0.0.0.0"];
}
