/** WebTier props. */
import { z } from "zod";
import { gunicornOptionsSchema, uwsgiOptionsSchema } from "./daemon-options";
import { locationSchema, refineLocations, uploadRouteSchema } from "./locations";
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
    /**
     * Routes that take large uploads: streamed to the app (no request buffering) with their own body
     * limit; a prefix, an exact path or a regex (`match`), e.g. InvenioRDM's file content alone:
     * `{ path: "^/api/records/[^/]+/draft/files/[^/]+/content$", match: "regex", maxBodySize: "50g" }`.
     * nginx tries regex locations in order, these first. @default none
     */
    uploadRoutes: z.array(uploadRouteSchema).default([]),
    /**
     * Caching and response headers by location, e.g. hashed assets for a year and the other static
     * files revalidated: `[{ path: "/static", serves: "static", cache: { maxAge: "0", mustRevalidate: true } },
     * { path: "/static/dist", serves: "static", cache: { maxAge: "1y", immutable: true } }]`. @default none
     */
    locations: z.array(locationSchema).default([]),
    /** uWSGI plugins to load; set `[]` for a uWSGI built with Python inside (pip). @default ["python3"] */
    uwsgiPlugins: z.array(z.string().regex(/^[a-z0-9_]+$/)).default(["python3"]),
    /** uWSGI `buffer-size`, bytes: the largest request header block uWSGI accepts (uWSGI tiers only). @default 16384 */
    uwsgiBufferSize: z.number().int().min(4096).max(65535).optional(),
    /**
     * Options of uwsgi.ini the library has no prop for, e.g. `{ "reload-on-rss": 512, mount:
     * ["/api=rest.wsgi:application"], "manage-script-name": true }`; a list renders the option once per
     * entry. Options uwsgi.ini already sets (processes, listen, harakiri, ...), their aliases, and
     * options that change what the budgets count (async, gevent, mules, another config file) are
     * refused, naming the prop to set instead; uWSGI's strict mode refuses a name it does not know.
     * uWSGI tiers only. @default {}
     */
    uwsgiOptions: uwsgiOptionsSchema.default({}),
    /**
     * Settings of gunicorn.conf.py the library has no prop for, e.g. `{ limit_request_line: 8190 }`.
     * Settings the file already sets (workers, threads, backlog, timeout, ...) and ones that bypass a
     * budget (raw_env, config) are refused; the file checks the names against gunicorn's own list at
     * start (gunicorn would ignore an unknown one). gunicorn tiers only. @default {}
     */
    gunicornOptions: gunicornOptionsSchema.default({}),
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
  .superRefine(refinePool)
  .superRefine(refineLocations)
  .superRefine((s, ctx) => {
    // Options of the server the tier does not run would be silently dropped.
    const other = s.server === "uwsgi" ? "gunicorn" : "uwsgi";
    const unused = (field: string) => ctx.addIssue({ code: "custom", path: [field], message: `the tier runs ${s.server} (server), which does not read ${field}` });
    if (other === "uwsgi" && Object.keys(s.uwsgiOptions).length > 0) unused("uwsgiOptions");
    if (other === "uwsgi" && s.uwsgiBufferSize !== undefined) unused("uwsgiBufferSize");
    if (other === "gunicorn" && Object.keys(s.gunicornOptions).length > 0) unused("gunicornOptions");
  });
