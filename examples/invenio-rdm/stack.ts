/**
 * InvenioRDM's production shape, with the numbers of its two public deployments:
 *
 * - C = inveniosoftware/cookiecutter-invenio-rdm, `{{cookiecutter.project_shortname}}/`:
 *   `docker/uwsgi/uwsgi_ui.ini`, `docker/uwsgi/uwsgi_rest.ini`, `docker/nginx/conf.d/default.conf`,
 *   `docker-services.yml`;
 * - H = inveniosoftware/helm-invenio: `charts/invenio/values.yaml`,
 *   `charts/invenio/Chart.yaml`, `charts/invenio/templates/haproxy/configmap.yaml`,
 *   `charts/invenio/templates/uwsgi-configmap.yaml`, `charts/invenio/templates/worker-beat-deployment.yaml`.
 *
 * The UI and the REST API are two uWSGI pools (C: uwsgi_ui.ini, uwsgi_rest.ini) behind one HAProxy
 * that sends /api to the REST pool; the REST pool mounts its app at /api (uWSGI `mount` and
 * `manage-script-name`), and streams 50 GB bodies on the file-content URL alone. Celery worker and
 * beat on RabbitMQ, five Redis databases, OpenSearch, PostgreSQL.
 *
 * STAND-IN APP: invenio-app-rdm and Invenio's own packages cannot be installed here, so both pools and
 * the workers run our example app (examples/app, `webstack_example.wsgi:application`,
 * `webstack_example.tasks`) where InvenioRDM runs `invenio_app.wsgi_ui:application`,
 * `invenio_app.wsgi_rest:application` and `invenio_app.celery`. The INVENIO_* variables are set
 * under InvenioRDM's own names, as the real app reads them; the stand-in reads the library's
 * (DATABASE_URL, CACHE_URL, CELERY_BROKER_URL, ...), which point at the same services.
 */
import type { Construct } from "constructs";
import { Cache, Database, LoadBalancer, Queue, SearchCluster, WebStack, WebTier, WorkerTier } from "../../lib";

export const INVENIO_RDM_IMAGE = "webstack-example-app:0.1";
export const INVENIO_RDM_HOST = "rdm.example.org";

/** C: docker/nginx/conf.d/default.conf, the "API files" location, verbatim: draft file content and its multipart parts. */
export const FILE_CONTENT_ROUTE = "/api/records/.+/draft/files/.+/content(/[0-9]+)?/?$";

export function buildInvenioRdmStack(scope: Construct, id = "invenio-rdm"): WebStack {
  const stack = new WebStack(scope, id, {
    subnet: "172.28.0.0/16",
    appSecrets: { invenio_secret_key: "InvenioRDM's SECRET_KEY (sessions, CSRF and tokens)" },
  });

  // H: values.yaml sets only postgresql.auth for Bitnami's postgresql chart (Chart.yaml), which leaves
  // max_connections at PostgreSQL's 100: less than its own 6 web replicas x 6 processes x 4 threads.
  // 200 holds the 149 of this stack (WS-DB-CONNECTIONS); 200 backends need more than 2 GiB
  // (WS-DB-MEMORY). Neither deployment sets a memory limit: 4 GiB is ours.
  const db = new Database(stack, "db", { maxConnections: 200, memoryMiB: 4096 });
  // H: redis.master.resources.limits.memory 2Gi. One Redis, five databases (C: docker-services.yml).
  // Sessions, results and rate limits share it with the cache: volatile-lru evicts only keys that expire
  // anyway, where allkeys-lru (the library's default) could drop any of them.
  const cache = new Cache(stack, "cache", { engine: "redis", memoryMiB: 2048, evictionPolicy: "volatile-lru" });
  // H: rabbitmq.resources.limits.memory 2Gi.
  const mq = new Queue(stack, "mq", { engine: "rabbitmq", memoryMiB: 2048 });
  // C: docker-services.yml, search: OPENSEARCH_JAVA_OPTS=-Xms512m -Xmx512m, mem_limit 2g.
  const search = new SearchCluster(stack, "search", { engine: "opensearch", nodes: 1, memoryMiB: 2048, heapMiB: 512 });

  // C: docker-services.yml, the app's environment, each Redis database by its purpose.
  const environment = {
    INVENIO_SECRET_KEY: stack.secret("invenio_secret_key"),
    INVENIO_SITE_UI_URL: `https://${INVENIO_RDM_HOST}`,
    INVENIO_SITE_API_URL: `https://${INVENIO_RDM_HOST}/api`,
    INVENIO_SQLALCHEMY_DATABASE_URI: db.url(),
    INVENIO_BROKER_URL: mq.url(),
    INVENIO_CELERY_BROKER_URL: mq.url(),
    INVENIO_CACHE_TYPE: "redis",
    INVENIO_CACHE_REDIS_URL: cache.url({ db: 0 }),
    INVENIO_ACCOUNTS_SESSION_REDIS_URL: cache.url({ db: 1 }),
    INVENIO_CELERY_RESULT_BACKEND: cache.url({ db: 2 }),
    INVENIO_RATELIMIT_STORAGE_URL: cache.url({ db: 3 }),
    INVENIO_COMMUNITIES_IDENTITIES_CACHE_REDIS_URL: cache.url({ db: 4 }),
    // A Python list literal, as the cookiecutter writes it (one node: one URL).
    INVENIO_SEARCH_HOSTS: `['${search.url()}']`,
    // Behind HAProxy and nginx: trust one X-Forwarded-For and X-Forwarded-Proto hop (C: docker-services.yml).
    INVENIO_PROXYFIX_CONFIG: "{'x_for': 1, 'x_proto': 1}",
  };

  // What both pools share. H: values.yaml web: 6 replicas of uWSGI processes 6 x threads 4, limit 1Gi;
  // the chart runs UI and API in one pool (invenio_app.wsgi), the cookiecutter in two: here two pools
  // of 3 nodes, the chart's 6 web replicas, each node sized as one of the chart's.
  const pool = {
    nodes: 3,
    server: "uwsgi",
    image: INVENIO_RDM_IMAGE,
    wsgiModule: "webstack_example.wsgi:application",
    processes: 6,
    threads: 4,
    // SQLAlchemy's QueuePool defaults (neither deployment sets others): a process holds at most its 4 threads' worth.
    poolSize: 5,
    maxOverflow: 10,
    // H: web.resources.limits.memory 1Gi for 6 processes: 6 x 128 MiB + 64 = 832 MiB (WS-APP-MEMORY).
    memoryMiB: 1024,
    processRssMiB: 128,
    // H: uwsgi-configmap.yaml max-requests = 1000.
    maxRequests: 1000,
    // C: uwsgi_ui.ini / uwsgi_rest.ini buffer-size = 8192.
    uwsgiBufferSize: 8192,
    // C: "Max upload size (except for files) is set to 100mb"; H: nginx.records.client_max_body_size 100m.
    clientMaxBodySize: "100m",
    staticUrlPath: "/static",
    environment,
    database: db,
    cache,
    queue: mq,
    search,
  } as const;
  const uwsgiOptions = {
    // C: both .ini files (their single-interpreter, master and die-on-term the rendered uwsgi.ini sets).
    "wsgi-disable-file-wrapper": true,
    // C sets reload-on-rss = 666 for 2 processes in a container without a limit; 6 processes of 666 MB
    // would not fit the chart's 1 GiB, so a process is recycled past 150 MB (6 x 150 + 64 < 1024).
    "reload-on-rss": 150,
  };

  const ui = new WebTier(stack, "ui", { ...pool, uwsgiOptions });

  const api = new WebTier(stack, "api", {
    ...pool,
    uwsgiOptions: {
      ...uwsgiOptions,
      // C: uwsgi_rest.ini: the REST app is mounted at /api and uWSGI strips it from PATH_INFO.
      mount: ["/api=webstack_example.wsgi:application"],
      "manage-script-name": true,
    },
    // C: default.conf streams the file content alone with 50G (H: nginx.files.client_max_body_size 50G);
    // the rest of /api keeps 100m. H: uwsgi-configmap.yaml socket-timeout = 120: a client may pause that long.
    uploadRoutes: [{ path: FILE_CONTENT_ROUTE, match: "regex", maxBodySize: "50g", clientPauseSeconds: 120 }],
  });

  // H: values.yaml worker: invenio_app.celery, concurrency 2, replicas 2, limit 1Gi; worker-beat-deployment.yaml
  // runs one beat with Celery's own scheduler; flower on mher/flower:2.0, reading the broker only.
  new WorkerTier(stack, "worker", {
    image: INVENIO_RDM_IMAGE,
    celeryApp: "webstack_example.tasks",
    nodes: 2,
    concurrency: 2,
    // 1 GiB for the main process and 2 children: (2 + 1) x 256 MiB (WS-WORKER-MEMORY).
    memoryMiB: 1024,
    processRssMiB: 256,
    poolSize: 5,
    maxOverflow: 10,
    beat: true,
    flower: true,
    flowerImage: "mher/flower:2.0",
    environment,
    database: db,
    cache,
    queue: mq,
    search,
  });

  // H: haproxy/configmap.yaml: static files to nginx with maxconn_static 500, everything else to the
  // web pods; the cookiecutter's nginx (C: default.conf) sends /api to the REST pool. The chart's
  // `maxconn 100` is one server, the Service in front of all 6 pods; here HAProxy lists every node,
  // each with its 6 x 4 = 24 (WS-LB-SERVER-MAXCONN), and 500 for static files on each.
  new LoadBalancer(stack, "lb", {
    siteHost: INVENIO_RDM_HOST,
    // H: haproxy/configmap.yaml defaults maxconn 3000.
    maxconn: 3000,
    defaultTarget: ui,
    routes: [
      { name: "static", pathPrefix: "/static", target: ui, serves: "static", maxconnPerServer: 500 },
      { name: "api", pathPrefix: "/api", target: api, maxBodySize: "100m" },
    ],
  });

  return stack;
}
