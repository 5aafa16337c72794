import { Cache, Database, LoadBalancer, PropsError, Queue, WebTier, WorkerTier } from "../lib";
import { IMAGE, WSGI, newStack } from "./helpers";

function invenioShaped() {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 1 });
  const cache = new Cache(stack, "cache", { maxClients: 1024 });
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", {
    image: IMAGE, wsgiModule: WSGI, nodes: 2, processes: 4, threads: 2, database: db, cache, queue: mq,
    environment: {
      INVENIO_SQLALCHEMY_DATABASE_URI: db.url(),
      INVENIO_CACHE_REDIS_URL: cache.url({ db: 0 }),
      INVENIO_ACCOUNTS_SESSION_REDIS_URL: cache.url({ db: 1 }),
      INVENIO_RATELIMIT_STORAGE_URL: cache.url({ db: 3 }),
      INVENIO_BROKER_URL: mq.url(),
    },
  });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return { stack, db, cache, mq, web };
}

test("URLs go under the app's own names, identical to the generated ones, secrets still variables", () => {
  const { stack } = invenioShaped();
  const app = stack.cluster().plan.containers.find((c) => c.key === "web-1-app")!;
  expect(app.env.INVENIO_SQLALCHEMY_DATABASE_URI).toBe(app.env.DATABASE_URL);
  expect(app.env.INVENIO_BROKER_URL).toBe(app.env.CELERY_BROKER_URL);
  expect(app.env.INVENIO_ACCOUNTS_SESSION_REDIS_URL).toBe(app.env.CACHE_URL.replace(/\/0$/, "/1"));
  expect(app.env.INVENIO_RATELIMIT_STORAGE_URL).toMatch(/^redis:\/\/:@@secret:cache_password@@@172\.30\.\d+\.10:6379\/3$/);
});

test("each Redis database a tier uses counts in WS-REDIS-CLIENTS", () => {
  const { stack } = invenioShaped();
  const f = stack.cluster().findings.find((x) => x.ruleId === "WS-REDIS-CLIENTS")!;
  expect(f.lines[0]).toBe("test/web: 2 nodes x 4 processes x 2 threads x 3 Redis databases (0, 1, 3) = 48");
  expect(f.used).toBe(48);
});

test("a reference to a service the tier is not wired to is refused, naming the field", () => {
  const stack = newStack();
  const db = new Database(stack, "db");
  const other = new Database(stack, "other");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, environment: { LEGACY_DB: other.url() } });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  expect(() => stack.cluster()).toThrow(PropsError);
  expect(() => stack.cluster()).toThrow(/environment.LEGACY_DB: refers to test\/other, but database of this tier is test\/db; wire it/);
});

test("a replica URL needs replicas; memcached has no databases", () => {
  const stack = newStack();
  const db = new Database(stack, "db", { replicas: 0 });
  const q = new Queue(stack, "mq");
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "a", database: db, queue: q, environment: { READS: db.url({ replica: true }) } });
  expect(() => stack.cluster()).toThrow(/environment.READS: test\/db has no replicas to read from/);
  expect(() => new Cache(newStack(), "mc", { engine: "memcached" }).url({ db: 1 })).toThrow(/memcached has no databases/);
  expect(() => new Cache(newStack(), "r").url({ db: 16 })).toThrow(/db must be a whole number from 0 to 15/);
});
