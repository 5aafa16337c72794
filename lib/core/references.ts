/**
 * Typed references to the URLs a stack generates, for apps that read them under names of their own
 * (`INVENIO_SQLALCHEMY_DATABASE_URI: db.url()`). The construct hands out a placeholder; the planner
 * replaces it with the URL (secrets still as sensitive variables), and the budgets count what the
 * reference uses (each Redis database is a pool of its own in redis-py).
 */

export type ServiceUrl = "database" | "database-replica" | "cache" | "broker" | "result-backend" | "search";

export interface UrlReference {
  /** Construct path of the service. */
  readonly path: string;
  readonly url: ServiceUrl;
  /** Redis database number, for `cache`. */
  readonly redisDb?: number;
}

const REFERENCE = /@@url:([^#@]+)#([a-z-]+)(?:\/(\d+))?@@/g;

export function urlReference(path: string, url: ServiceUrl, redisDb?: number): string {
  return `@@url:${path}#${url}${redisDb === undefined ? "" : `/${redisDb}`}@@`;
}

export function urlReferencesIn(text: string): UrlReference[] {
  return [...text.matchAll(REFERENCE)].map((m) => ({ path: m[1], url: m[2] as ServiceUrl, ...(m[3] === undefined ? {} : { redisDb: Number(m[3]) }) }));
}

export function substituteUrlReferences(text: string, replace: (ref: UrlReference) => string): string {
  return text.replace(REFERENCE, (_, path: string, url: string, db?: string) => replace({ path, url: url as ServiceUrl, ...(db === undefined ? {} : { redisDb: Number(db) }) }));
}

/** Redis databases a tier's processes use on `cachePath`: 0 (CACHE_URL) and each one its environment references. */
export function redisDatabasesUsed(environment: Readonly<Record<string, string>>, cachePath: string): number[] {
  const referenced = Object.values(environment)
    .flatMap(urlReferencesIn)
    .filter((r) => r.path === cachePath && r.url === "cache")
    .map((r) => r.redisDb ?? 0);
  return [...new Set([0, ...referenced])].sort((a, b) => a - b);
}
