/** Celery command lines: the worker, the single beat scheduler and Flower; the worker's log format. */

export interface CeleryWorkerConfig {
  readonly app: string;
  readonly nodeName: string;
  readonly concurrency: number;
  readonly prefetchMultiplier: number;
  readonly maxTasksPerChild: number;
  readonly queues: readonly string[];
}

/** The Celery message header that carries the id of the HTTP request which enqueued the task. */
export const CELERY_REQUEST_ID_HEADER = "request_id";

/**
 * Every worker line: task_id and request_id are "-" outside a task (start-up, "received"). The task
 * loggers (get_task_logger) add the task's name.
 */
export const CELERY_WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] task_id=%(task_id)s request_id=%(request_id)s %(message)s";
export const CELERY_TASK_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] task_id=%(task_id)s request_id=%(request_id)s %(task_name)s: %(message)s";

/** Where the worker's start script is mounted; the worker command runs it with python3. */
export const CELERY_WORKER_SCRIPT = "/etc/webstack/celery_worker.py";

/**
 * The worker's start script: Celery's own command line, plus two fields on every log record (the
 * task id and the `request_id` header of the task being run) and the header passed on to the
 * tasks a task enqueues. A log format can only name record fields, and Celery adds only the task
 * id and name (to its task loggers alone), so the fields need this much code; it runs in the worker
 * before Celery sets up logging, so the user's app needs no code but the header it sends.
 */
export function renderCeleryWorkerScript(): string {
  return [
    '"""Rendered by cdktf-webstack. Edit the stack, not this file.',
    "",
    "Starts the Celery worker with the stack's log format: every record carries task_id and",
    `request_id (the task's "${CELERY_REQUEST_ID_HEADER}" header: the HTTP request that enqueued it).`,
    '"""',
    "import logging",
    "import sys",
    "",
    "from celery import signals",
    "from celery._state import get_current_task",
    "",
    `HEADER = ${JSON.stringify(CELERY_REQUEST_ID_HEADER)}`,
    "",
    "_make_record = logging.getLogRecordFactory()",
    "",
    "",
    "def _current_request():",
    "    task = get_current_task()",
    "    return task.request if task is not None else None",
    "",
    "",
    "def _record(*args, **kwargs):",
    "    record = _make_record(*args, **kwargs)",
    "    request = _current_request()",
    '    record.task_id = getattr(request, "id", None) or "-"',
    '    record.request_id = getattr(request, HEADER, None) or "-"',
    "    return record",
    "",
    "",
    "# Set before Celery creates a logger: every record, in the main process and the forked pool children.",
    "logging.setLogRecordFactory(_record)",
    "",
    "",
    "@signals.before_task_publish.connect",
    "def _pass_request_id_on(headers=None, **_):",
    "    # A task enqueued by a task keeps the request id of the one before it.",
    "    request_id = getattr(_current_request(), HEADER, None)",
    "    if request_id and headers is not None:",
    "        headers.setdefault(HEADER, request_id)",
    "",
    "",
    'if __name__ == "__main__":',
    "    from celery.__main__ import main",
    "",
    "    sys.exit(main())",
    "",
  ].join("\n");
}

export function celeryWorkerCommand(c: CeleryWorkerConfig): string[] {
  return [
    "python3",
    CELERY_WORKER_SCRIPT,
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
    // Celery's configuration from the command line (namespace "worker"): the format is visible here.
    `worker_log_format=${CELERY_WORKER_LOG_FORMAT}`,
    `worker_task_log_format=${CELERY_TASK_LOG_FORMAT}`,
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
