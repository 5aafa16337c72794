import type { Construct } from "constructs";
import type { CacheModel, DatabaseModel, QueueModel, SearchClusterModel, Wiring } from "../core/topology";
import { Cache } from "./cache";
import { checkReference, type ModelResolver } from "./component";
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

export function wiringModel(w: ServiceWiring, resolve: ModelResolver): Wiring {
  return {
    database: w.database && resolve<DatabaseModel>(w.database),
    cache: w.cache && resolve<CacheModel>(w.cache),
    queue: w.queue && resolve<QueueModel>(w.queue),
    search: w.search && resolve<SearchClusterModel>(w.search),
  };
}

/** Splits construct references from the plain fields the schema validates. */
export function splitWiring<P extends ServiceWiring>(props: P): { wiring: ServiceWiring; rest: Omit<P, keyof ServiceWiring> } {
  const { database, cache, queue, search, ...rest } = props;
  return { wiring: { database, cache, queue, search }, rest };
}
