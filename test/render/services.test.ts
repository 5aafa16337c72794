import {
  CELERY_REQUEST_ID_HEADER,
  CELERY_WORKER_SCRIPT,
  celeryBeatCommand,
  celeryWorkerCommand,
  flowerCommand,
  memcachedCommand,
  renderGunicornConfig,
  renderJvmHeapOptions,
  renderRabbitmqConf,
  renderRabbitmqStart,
  renderRedisConf,
  renderCeleryWorkerScript,
  renderRedisStart,
  renderSearchYml,
  renderUwsgiIni,
  type AppServerConfig,
} from "../../lib";

const app: AppServerConfig = {
  wsgiModule: "site.wsgi:application",
  port: 8000,
  processes: 8,
  threads: 2,
  maxRequests: 5000,
  timeoutSeconds: 60,
  listenBacklog: 1024,
  maxBodyBytes: 10485760,
  plugins: ["python3"],
  statsPort: 9191,
  forwardedAllowIps: "10.0.1.10",
};

test("uwsgi.ini: processes, threads, master, stats, max-requests, harakiri", () => {
  const ini = renderUwsgiIni(app);
  for (const line of ["processes = 8", "threads = 2", "master = true", "stats = 0.0.0.0:9191", "max-requests = 5000", "listen = 1024", "lazy-apps = true", "limit-post = 10485760", "strict = true"]) {
    expect(ini).toContain(`${line}\n`);
  }
});

test("uwsgi.ini: harakiri is set once the body is in (routing), never as the option post-buffering inflates", () => {
  const ini = renderUwsgiIni(app);
  expect(ini).toContain("post-buffering = 65536\nroute-run = harakiri:60\n");
  expect(ini).not.toMatch(/^harakiri\s*=/m);
  // No upload route: uWSGI's own socket-timeout (nginx sends buffered bodies at once).
  expect(ini).not.toMatch(/^socket-timeout/m);
  expect(renderUwsgiIni({ ...app, socketTimeoutSeconds: 95 })).toMatch(/^socket-timeout = 95$/m);
});

test("gunicorn.conf.py: workers, threads, timeout, max_requests", () => {
  const py = renderGunicornConfig(app);
  for (const line of ["workers = 8", "threads = 2", 'worker_class = "gthread"', "timeout = 60", "max_requests = 5000", "backlog = 1024", 'forwarded_allow_ips = "10.0.1.10"']) {
    expect(py).toContain(`${line}\n`);
  }
});

test("redis.conf: a cache evicts and does not persist; a broker never evicts and persists", () => {
  const cache = renderRedisConf({ purpose: "cache", maxMemoryMiB: 384, evictionPolicy: "allkeys-lru", maxClients: 1024 });
  expect(cache).toContain("maxmemory 384mb\nmaxmemory-policy allkeys-lru\n");
  expect(cache).toContain("appendonly no");
  const broker = renderRedisConf({ purpose: "broker", maxMemoryMiB: 384, evictionPolicy: "allkeys-lru", maxClients: 1024 });
  expect(broker).toContain("maxmemory-policy noeviction");
  expect(broker).toContain("appendonly yes");
  expect(cache).not.toContain("requirepass");
  expect(renderRedisStart("REDIS_PASSWORD")).toContain("requirepass $REDIS_PASSWORD");
});

test("rabbitmq.conf: one user, no guest, limits; the password only at start", () => {
  const conf = renderRabbitmqConf({ vhost: "app", user: "app", connectionMax: 500, watermarkBytes: 419430400, managementUi: false });
  expect(conf).toContain("default_user = app\ndefault_vhost = app\n");
  expect(conf).toContain("connection_max = 500");
  expect(conf).toContain("vm_memory_high_watermark.absolute = 419430400");
  expect(conf).not.toMatch(/^[^#]*guest/m);
  expect(conf).not.toContain("default_pass");
  expect(renderRabbitmqStart("RABBITMQ_PASSWORD")).toContain("default_pass = %s");
});

test("memcached: memory, connection limit, no UDP", () => {
  expect(memcachedCommand({ itemMemoryMiB: 400, maxConnections: 1024, threads: 4 })).toEqual(
    expect.arrayContaining(["--memory-limit=400", "--conn-limit=1024", "--udp-port=0"]),
  );
});

test("search: single node vs. discovery with initial masters; heap min = max", () => {
  const one = renderSearchYml({ engine: "elasticsearch", clusterName: "s", nodeName: "s-1", seedHosts: ["10.0.4.10:9300"], initialMasters: ["s-1"], heapMiB: 1024 });
  expect(one).toContain("discovery.type: single-node");
  const three = renderSearchYml({ engine: "opensearch", clusterName: "s", nodeName: "s-2", seedHosts: ["a:9300", "b:9300", "c:9300"], initialMasters: ["s-1", "s-2", "s-3"], heapMiB: 1024 });
  expect(three).toContain("cluster.initial_cluster_manager_nodes:\n  - s-1\n  - s-2\n  - s-3");
  expect(renderJvmHeapOptions(1024)).toContain("-Xms1024m\n-Xmx1024m");
});

test("celery: worker flags and a beat with its own schedule file", () => {
  expect(celeryWorkerCommand({ app: "t", nodeName: "w-1", concurrency: 4, prefetchMultiplier: 1, maxTasksPerChild: 1000, queues: ["celery", "mail"] })).toEqual(
    expect.arrayContaining(["--concurrency=4", "--prefetch-multiplier=1", "--max-tasks-per-child=1000", "--queues=celery,mail"]),
  );
  expect(celeryBeatCommand("t")).toContain("beat");
});

test("celery: the worker starts through the rendered script, with the log format on its command line", () => {
  const argv = celeryWorkerCommand({ app: "t", nodeName: "w-1", concurrency: 4, prefetchMultiplier: 1, maxTasksPerChild: 1000, queues: ["celery"] });
  expect(argv.slice(0, 4)).toEqual(["python3", CELERY_WORKER_SCRIPT, "--app=t", "worker"]);
  // Celery's `key=value` configuration after the options; both formats print the task and request ids.
  const formats = argv.filter((a) => /^worker_(task_)?log_format=/.test(a));
  expect(formats).toHaveLength(2);
  for (const f of formats) expect(f).toMatch(/ task_id=%\(task_id\)s request_id=%\(request_id\)s /);
  const script = renderCeleryWorkerScript();
  // The fields the formats name are set on every record, from the running task's header.
  expect(script).toContain(`HEADER = "${CELERY_REQUEST_ID_HEADER}"`);
  expect(script).toMatch(/record\.task_id = /);
  expect(script).toMatch(/record\.request_id = getattr\(request, HEADER, None\)/);
  expect(script).toContain("logging.setLogRecordFactory(_record)");
  expect(script).toContain("sys.exit(main())");
});

describe("Celery beat and Flower commands", () => {
  test("beat keeps Celery's own scheduler state in /tmp, or runs the scheduler class given", () => {
    expect(celeryBeatCommand("app.tasks")).toEqual(["celery", "--app=app.tasks", "beat", "--loglevel=INFO", "--schedule=/tmp/celerybeat-schedule", "--pidfile="]);
    expect(celeryBeatCommand("app.tasks", "django_celery_beat.schedulers:DatabaseScheduler")).toContain("--scheduler=django_celery_beat.schedulers:DatabaseScheduler");
    expect(celeryBeatCommand("app.tasks", "django_celery_beat.schedulers:DatabaseScheduler").join(" ")).not.toContain("celerybeat-schedule");
  });
  test("Flower on its own image reads only the broker; on the app image it imports the app", () => {
    expect(flowerCommand(undefined)).toEqual(["celery", "flower", "--port=5555", "--address=0.0.0.0"]);
    expect(flowerCommand("app.tasks")[1]).toBe("--app=app.tasks");
  });
});
