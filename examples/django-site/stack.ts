/**
 * A Django site as cookiecutter-django's production compose file runs one, on Debian's packages
 * (app/: Django 3.2, Celery with django_celery_beat's DatabaseScheduler, psycopg2, redis-py,
 * gunicorn): HAProxy in front of two gunicorn nodes behind nginx, a Celery worker and beat on Redis,
 * PostgreSQL. The app reads its settings under its own names; its host name is a real one, so every
 * health check sends it; migrations are a release step, collectstatic a pre-start step per node.
 * POST /upload/ streams to Django (an upload route): a client may pause 12 s mid-body.
 */
import type { Construct } from "constructs";
import { Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier } from "../../lib";

export const DJANGO_SITE_IMAGE = "webstack-django-site:0.1";
export const DJANGO_SITE_HOST = "www.example.com";
const STATIC_DIR = "/srv/app/static";
/** POST /upload/ (pages.views.upload) streams to Django; nginx cuts a client pausing longer than 12 s mid-body. */
export const DJANGO_SITE_UPLOAD = { path: "/upload/", maxBodySize: "10m", clientPauseSeconds: 12 };

export function buildDjangoSiteStack(scope: Construct, id = "django-site"): WebStack {
  const stack = new WebStack(scope, id, {
    subnet: "172.29.0.0/16",
    appSecrets: { django_secret_key: "Django's SECRET_KEY (signs sessions and tokens)" },
  });
  const db = new Database(stack, "db", { maxConnections: 50, memoryMiB: 1024 });
  // Celery's broker; Django 3.2 has no Redis cache backend, so Redis is the broker alone.
  const redis = new Queue(stack, "redis", { engine: "redis" });
  // What cookiecutter-django's settings read, under their names. DATABASE_URL comes with `database`.
  const environment = {
    DJANGO_ALLOWED_HOSTS: DJANGO_SITE_HOST,
    DJANGO_SECRET_KEY: stack.secret("django_secret_key"),
    DJANGO_STATIC_ROOT: STATIC_DIR,
    REDIS_URL: redis.url(),
  };
  const web = new WebTier(stack, "web", {
    nodes: 2,
    server: "gunicorn",
    image: DJANGO_SITE_IMAGE,
    wsgiModule: "djsite.wsgi:application",
    processes: 2,
    // gthread workers: a slow upload client holds one thread, not a whole process, and gunicorn's
    // timeout (a heartbeat of the worker's main loop) does not count the upload (WS-UPLOAD-PAUSE).
    threads: 2,
    // Django keeps one connection per thread, no pool.
    connectionPool: "none",
    poolSize: 0,
    processRssMiB: 100,
    staticDir: STATIC_DIR,
    staticUrlPath: "/static",
    uploadRoutes: [DJANGO_SITE_UPLOAD],
    release: ["python3 manage.py migrate --noinput"],
    preStart: ["python3 manage.py collectstatic --noinput"],
    environment,
    database: db,
    queue: redis,
  });
  new WorkerTier(stack, "worker", {
    image: DJANGO_SITE_IMAGE,
    celeryApp: "djsite",
    concurrency: 2,
    connectionPool: "none",
    poolSize: 0,
    processRssMiB: 120,
    beat: true,
    beatScheduler: "django_celery_beat.schedulers:DatabaseScheduler",
    environment,
    database: db,
    queue: redis,
  });
  new LoadBalancer(stack, "lb", {
    siteHost: DJANGO_SITE_HOST,
    defaultTarget: web,
    routes: [{ pathPrefix: "/static", target: web, serves: "static" }],
    httpPort: 8080,
  });
  return stack;
}
