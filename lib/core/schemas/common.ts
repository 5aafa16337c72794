/** Field types shared by the props schemas. */
import { z } from "zod";

export const positiveInt = z.number().int().min(1);
export const nonNegativeInt = z.number().int().min(0);
/** Memory limit of one container, MiB. */
export const memoryMiB = z.number().int().min(16).max(1024 * 1024);
export const dockerImage = z.string().min(1).regex(/^[a-z0-9][a-z0-9._\/:@-]*$/, "must be a Docker image reference like 'nginx:1.22'");
export const urlPath = z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a URL path starting with '/'");
export const identifier = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower case letters, digits and '_', starting with a letter");
/** nginx-style size: `10m`, `50g`, `512k` or a number of bytes. */
export const bodySize = z.string().regex(/^[0-9]+[kmgKMG]?$/, "must be a size like '10m', '50g' or '512k'");

/** Environment variables the library sets from typed props, so the budgets count what the app really uses. */
const RESERVED_ENVIRONMENT: Readonly<Record<string, string>> = {
  DATABASE_URL: "database (wire a Database)",
  DATABASE_REPLICA_URL: "database (wire a Database with replicas)",
  DB_POOL_SIZE: "poolSize",
  DB_MAX_OVERFLOW: "maxOverflow",
  DB_POOL_MODE: "connectionPool",
  CACHE_URL: "cache (wire a Cache)",
  CELERY_BROKER_URL: "queue (wire a Queue)",
  CELERY_RESULT_BACKEND: "queue (wire a Queue)",
  SEARCH_URL: "search (wire a SearchCluster)",
};

/** Extra environment of an app or worker tier; keys a budget reads are refused with the prop to use. */
export const appEnvironment = z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()).superRefine((env, ctx) => {
  for (const key of Object.keys(env)) {
    const prop = RESERVED_ENVIRONMENT[key];
    if (prop) ctx.addIssue({ code: "custom", path: [key], message: `set by the library from ${prop}, which the budgets count; set that prop instead` });
    // The app servers read options from these too, where uwsgiOptions' and gunicornOptions' checks never see them.
    if (key.startsWith("UWSGI_")) ctx.addIssue({ code: "custom", path: [key], message: "uWSGI reads UWSGI_* variables as options (UWSGI_ASYNC=100 is async = 100); set uwsgiOptions instead, which are checked" });
    if (key === "GUNICORN_CMD_ARGS") ctx.addIssue({ code: "custom", path: [key], message: "gunicorn reads it as command-line options, which win over its config file; set gunicornOptions instead, which are checked" });
  }
});

/** The pool fields of an app or worker tier: a pool of 0 is no pool, and must say so. */
export function refinePool(s: { poolSize: number; connectionPool: "pooled" | "none" }, ctx: z.RefinementCtx): void {
  if (s.connectionPool === "pooled" && s.poolSize === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["poolSize"],
      message: 'must be at least 1 with connectionPool "pooled" (a pool of 0 opens connections without a limit); for no pool set connectionPool: "none"',
    });
  }
}

/** Shell commands, one per entry, run in order by /bin/sh. */
export const shellCommands = z.array(z.string().min(1).refine((c) => !c.includes("\n"), "one command per entry, no newline"));
