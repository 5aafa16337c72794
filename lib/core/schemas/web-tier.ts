/** WebTier props. */
import { z } from "zod";
import { shellCommands, positiveInt, nonNegativeInt, memoryMiB, dockerImage, urlPath, bodySize, appEnvironment, refinePool } from "./common";

/** Web nodes one tier may run (its containers fit one address block). */
export const MAX_WEB_NODES = 250;

export const webTierSchema = z
  .object({
    /**
     * Number of web nodes (one nginx and one app server container each).
     * @default 2, or with `targetRps` and a `measurement`, the nodes the target needs at the measured rate
     */
    nodes: positiveInt.max(MAX_WEB_NODES).default(2),
    /**
     * Requests per second the tier must serve within `latencyObjectiveMs`. With a `measurement`,
     * rule WS-WEB-TARGET checks it and an unset `nodes` follows from it; without one the capacity
     * report says the figures are assumptions. @default none
     */
    targetRps: z.number().positive().optional(),
    /** p99 latency the tier must meet, ms: the objective of `targetRps` and of `cdktf-webstack measure`. @default 300 */
    latencyObjectiveMs: positiveInt.max(60_000).default(300),
    /**
     * The file `cdktf-webstack measure` wrote for this tier (a path from the working directory).
     * Its requests per second per process at the latency objective size the tier for `targetRps`,
     * and its resident memory per process replaces `processRssMiB` unless you set that. @default none
     */
    measurement: z.string().min(1).optional(),
    /** Application server. @default "uwsgi" */
    server: z.enum(["uwsgi", "gunicorn"]).default("uwsgi"),
    /** Application image, built by you (see examples/app/Dockerfile). */
    image: dockerImage,
    /** WSGI callable, `module:attribute`. */
    wsgiModule: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$/, "must be 'package.module:callable'"),
    /** Worker processes per node (uWSGI `processes`, gunicorn `workers`). @default 8 */
    processes: positiveInt.max(512).default(8),
    /** Threads per process. @default 2 */
    threads: positiveInt.max(64).default(2),
    /** Database connections each process keeps pooled (SQLAlchemy `pool_size`; 0 would mean no limit there, so it needs connectionPool "none"). @default 5 */
    poolSize: nonNegativeInt.default(5),
    /** Extra connections a process may open above its pool (SQLAlchemy `max_overflow`). @default 0 */
    maxOverflow: nonNegativeInt.default(0),
    /**
     * How each process reaches the database. `pooled`: SQLAlchemy's QueuePool or psycopg2's pool; a
     * process opens a connection only when no idle one is free, so it holds at most
     * min(requests it runs at once x connectionsPerRequest, poolSize + maxOverflow). `none`:
     * NullPool, or Django (a connection per thread): one connection per request in flight x
     * connectionsPerRequest; poolSize and maxOverflow are then not used. @default "pooled"
     */
    connectionPool: z.enum(["pooled", "none"]).default("pooled"),
    /** Database connections one request (or task) holds at once: more than 1 for an app with several engines. @default 1 */
    connectionsPerRequest: positiveInt.max(16).default(1),
    /** Expected resident memory of one app process, MiB; measure it (uwsgitop RSS). @default 200 */
    processRssMiB: positiveInt.default(200),
    /** Memory limit of each app server container. @default processes x processRssMiB x 1.25 + 64, rounded up to 64 */
    memoryMiB: memoryMiB.optional(),
    /** Memory limit of each nginx container. @default 128 */
    nginxMemoryMiB: memoryMiB.default(128),
    /** nginx `worker_connections` (2 workers per node). @default 1024 */
    nginxWorkerConnections: positiveInt.max(65535).default(1024),
    /** `nofile` ulimit of each nginx container (also its `worker_rlimit_nofile`). @default 4096 */
    nginxNofileLimit: positiveInt.default(4096),
    /** Requests served before a process is recycled (uWSGI `max-requests`, gunicorn `max_requests`). @default 5000 */
    maxRequests: positiveInt.default(5000),
    /**
     * Seconds a request may run in the app before its process is killed (uWSGI `harakiri`, counted
     * from the end of the request body; gunicorn `timeout`). @default 60
     */
    requestTimeoutSeconds: positiveInt.default(60),
    /** Listen backlog of the app server socket. @default 1024 */
    listenBacklog: positiveInt.max(65535).default(1024),
    /** Port the app server listens on inside its container. @default 8000 */
    appPort: z.number().int().min(1024).max(65535).default(8000),
    /** Directory of static files inside the app image; nginx serves it at `staticUrlPath`. @default "/srv/app/static" */
    staticDir: z.string().regex(/^\/[A-Za-z0-9._\/-]+$/).default("/srv/app/static"),
    /** URL path of static files. @default "/static" */
    staticUrlPath: urlPath.default("/static"),
    /** Largest request body nginx accepts on ordinary routes. @default "10m" */
    clientMaxBodySize: bodySize.default("10m"),
    /** Routes that take large uploads: streamed to the app (no request buffering) with their own body limit. @default none */
    uploadRoutes: z
      .array(
        z
          .object({
            path: urlPath,
            maxBodySize: bodySize,
            /**
             * Longest pause, in seconds, of a client in the middle of its body (a phone between
             * cells, a stalled proxy): every layer waits this long (nginx `client_body_timeout` of the
             * location; uWSGI `socket-timeout`, HAProxy `timeout client` and `timeout server` longer),
             * and nginx cuts a client that pauses longer. @default 30
             */
            clientPauseSeconds: positiveInt.max(3600).default(30),
          })
          .strict(),
      )
      .default([]),
    /** uWSGI plugins to load; set `[]` for a uWSGI built with Python inside (pip). @default ["python3"] */
    uwsgiPlugins: z.array(z.string().regex(/^[a-z0-9_]+$/)).default(["python3"]),
    /**
     * Shell commands each app container runs, in order, before its app server starts, with the app's
     * environment: e.g. `python3 manage.py collectstatic --noinput` into `staticDir`, the volume nginx
     * serves. A failing command stops the container (and its health check shows it). @default []
     */
    preStart: shellCommands.default([]),
    /**
     * Release steps: shell commands run once per deploy, in order, in a one-shot container of the app
     * image with the app's environment, e.g. `python3 manage.py migrate --noinput`. It starts once the
     * services the tier is wired to accept connections, and Terraform waits for it to exit: the app
     * containers of this tier, and the Celery containers of every worker tier on the same database,
     * are created only after it succeeded, and a failing command fails the deploy. It runs again
     * whenever the image, the commands or the environment change. @default []
     */
    release: shellCommands.default([]),
    /** Extra environment variables for the app. @default {} */
    environment: appEnvironment.default({}),
    /** @default "nginx:1.22" */
    nginxImage: dockerImage.default("nginx:1.22"),
  })
  .strict()
  .superRefine(refinePool);
