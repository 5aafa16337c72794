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

/**
 * The beat scheduler. Celery's own (the default) keeps its schedule state in /tmp: losing it only
 * re-runs the next due tasks once. Another scheduler (django_celery_beat's DatabaseScheduler, say)
 * keeps its state where it likes.
 */
export function celeryBeatCommand(app: string, scheduler?: string): string[] {
  const state = scheduler === undefined ? ["--schedule=/tmp/celerybeat-schedule"] : [`--scheduler=${scheduler}`];
  return ["celery", `--app=${app}`, "beat", "--loglevel=INFO", ...state, "--pidfile="];
}

/**
 * Beat is healthy while it can reach its broker: true of every scheduler, unlike a schedule file
 * (which only Celery's default scheduler writes). Kombu comes with Celery.
 */
export const BEAT_HEALTH_PROBE =
  'python3 -c "import os, kombu; kombu.Connection(os.environ[\'CELERY_BROKER_URL\'], connect_timeout=4).ensure_connection(max_retries=1)"';

export const FLOWER_PORT = 5555;

/**
 * Flower on the app image imports the Celery app; on an image of its own it cannot, and reads the
 * broker from CELERY_BROKER_URL instead.
 */
export function flowerCommand(app: string | undefined): string[] {
  return ["celery", ...(app ? [`--app=${app}`] : []), "flower", `--port=${FLOWER_PORT}`, "--address=0.0.0.0"];
}
