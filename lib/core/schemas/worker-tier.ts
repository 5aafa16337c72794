/** WorkerTier props. */
import { z } from "zod";
import { positiveInt, nonNegativeInt, memoryMiB, dockerImage } from "./common";

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
    /** Database connections each worker child keeps pooled. @default 5 */
    poolSize: nonNegativeInt.default(5),
    /** @default 0 */
    maxOverflow: nonNegativeInt.default(0),
    /** Run the beat scheduler, as one container of its own: never more than one. @default false */
    beat: z.boolean().default(false),
    /** Run Flower on the internal network (not published). @default false */
    flower: z.boolean().default(false),
    /** Image that has Flower installed. @default the worker image */
    flowerImage: dockerImage.optional(),
    /** Expected resident memory of one worker child, MiB. @default 200 */
    processRssMiB: positiveInt.default(200),
    /** Memory limit of each worker container. @default (concurrency + 1) x processRssMiB x 1.25, rounded up to 64 */
    memoryMiB: memoryMiB.optional(),
    /** @default {} */
    environment: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).default({}),
  })
  .strict();
