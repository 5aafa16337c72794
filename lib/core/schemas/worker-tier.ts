/** WorkerTier props. */
import { z } from "zod";
import { positiveInt, nonNegativeInt, memoryMiB, dockerImage, appEnvironment, refinePool } from "./common";

export const workerTierSchema = z
  .object({
    /** Application image (the same as the web tier's, usually). */
    image: dockerImage,
    /** Celery application, `-A` argument. */
    celeryApp: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:]*$/),
    /** Worker containers. @default 1 */
    nodes: positiveInt.max(250).default(1),
    /** Child processes per worker. @default 4 */
    concurrency: positiveInt.max(256).default(4),
    /** Celery `worker_prefetch_multiplier`. @default 1 */
    prefetchMultiplier: positiveInt.default(1),
    /** Tasks a child runs before it is replaced. @default 1000 */
    maxTasksPerChild: positiveInt.default(1000),
    /** Queues consumed. @default ["celery"] */
    queues: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/)).min(1).default(["celery"]),
    /** Database connections each worker child keeps pooled (0 needs connectionPool "none"). @default 5 */
    poolSize: nonNegativeInt.default(5),
    /** @default 0 */
    maxOverflow: nonNegativeInt.default(0),
    /**
     * How each process reaches the database. `pooled`: SQLAlchemy's QueuePool or psycopg2's pool; a
     * process opens a connection only when no idle one is free, so it holds at most
     * min(tasks it runs at once (1 for a prefork child) x connectionsPerRequest, poolSize + maxOverflow). `none`:
     * NullPool, or Django (a connection per thread): one connection per task in flight x
     * connectionsPerRequest; poolSize and maxOverflow are then not used. @default "pooled"
     */
    connectionPool: z.enum(["pooled", "none"]).default("pooled"),
    /** Database connections one request (or task) holds at once: more than 1 for an app with several engines. @default 1 */
    connectionsPerRequest: positiveInt.max(16).default(1),
    /** Run the beat scheduler, as one container of its own: never more than one. @default false */
    beat: z.boolean().default(false),
    /**
     * Beat's scheduler class, e.g. "django_celery_beat.schedulers:DatabaseScheduler".
     * @default Celery's own PersistentScheduler, with its state in /tmp
     */
    beatScheduler: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_]*)?$/, "must be a Python class path, 'package.module:Class'").optional(),
    /** Run Flower on the internal network (not published). @default false */
    flower: z.boolean().default(false),
    /** An image of Flower alone (it then reads only the broker, without importing your app). @default the worker image, with --app */
    flowerImage: dockerImage.optional(),
    /** Expected resident memory of one worker child, MiB. @default 200 */
    processRssMiB: positiveInt.default(200),
    /** Memory limit of each worker container. @default (concurrency + 1) x processRssMiB x 1.25, rounded up to 64 */
    memoryMiB: memoryMiB.optional(),
    /** @default {} */
    environment: appEnvironment.default({}),
  })
  .strict()
  .superRefine(refinePool);
