import type { Construct } from "constructs";
import type { Wiring } from "../core/topology";
import { Cache } from "./cache";
import { checkReference } from "./component";
import { Database } from "./database";
import { Queue } from "./queue";
import { SearchCluster } from "./search-cluster";

/** The services an app or worker tier connects to; each reaches the processes as environment variables. */
export interface ServiceWiring {
  /** Database the processes connect to (`DATABASE_URL`, `DATABASE_REPLICA_URL`, `DB_POOL_SIZE`). @default none */
  readonly database?: Database;
  /** Cache (`CACHE_URL`). @default none */
  readonly cache?: Cache;
  /** Celery broker (`CELERY_BROKER_URL`, `CELERY_RESULT_BACKEND`). @default none */
  readonly queue?: Queue;
  /** Search cluster (`SEARCH_URL`). @default none */
  readonly search?: SearchCluster;
}

export function checkWiring(owner: Construct, w: ServiceWiring): void {
  checkReference(owner, "database", w.database, "Database", Database.isDatabase);
  checkReference(owner, "cache", w.cache, "Cache", Cache.isCache);
  checkReference(owner, "queue", w.queue, "Queue", Queue.isQueue);
  checkReference(owner, "search", w.search, "SearchCluster", SearchCluster.isSearchCluster);
}

export function wiringModel(w: ServiceWiring): Wiring {
  return {
    database: w.database?.node.path,
    cache: w.cache?.node.path,
    queue: w.queue?.node.path,
    search: w.search?.node.path,
  };
}

/** Splits construct references from the plain fields the schema validates. */
export function splitWiring<P extends ServiceWiring>(props: P): { wiring: ServiceWiring; rest: Omit<P, keyof ServiceWiring> } {
  const { database, cache, queue, search, ...rest } = props;
  return { wiring: { database, cache, queue, search }, rest };
}
