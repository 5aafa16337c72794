/**
 * One log format per daemon, in its renderer: the rendered files and commands use it, and the
 * README's guide ("Follow one request through the logs") prints it as rendered.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  CELERY_TASK_LOG_FORMAT,
  CELERY_WORKER_LOG_FORMAT,
  Database,
  GUNICORN_ACCESS_LOG_FORMAT,
  HAPROXY_LOG_FORMAT,
  LoadBalancer,
  NGINX_LOG_FORMAT,
  PG_LOG_LINE_PREFIX,
  Queue,
  UWSGI_LOG_FORMAT,
  WebTier,
  WorkerTier,
} from "../lib";
import { IMAGE, WSGI, newStack } from "./helpers";

const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
const guide = readme.slice(readme.indexOf("## Follow one request through the logs"), readme.indexOf("## What synth writes"));

function cluster() {
  const stack = newStack();
  const db = new Database(stack, "db");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, server: "uwsgi", database: db, queue: mq });
  const api = new WebTier(stack, "api", { image: IMAGE, wsgiModule: WSGI, server: "gunicorn", database: db, queue: mq });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "a.tasks", database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web, routes: [{ pathPrefix: "/api", target: api }] });
  const containers = stack.cluster().plan.containers;
  const fileOf = (key: string, p: string) => containers.find((c) => c.key === key)!.files.find((f) => f.path === p)!.content;
  return { containers, fileOf };
}

test("each daemon renders its one format", () => {
  const { containers, fileOf } = cluster();
  expect(fileOf("lb", "/usr/local/etc/haproxy/haproxy.cfg")).toContain(`log-format "${HAPROXY_LOG_FORMAT}"`);
  // nginx's is split over lines of the log_format directive: joined, the parts are the constant.
  const nginx = fileOf("web-1-nginx", "/etc/nginx/nginx.conf");
  const parts = /log_format trace ((?:'[^']*'\s*)+);/.exec(nginx)![1].match(/'[^']*'/g)!.map((p) => p.slice(1, -1));
  expect(parts.join("")).toBe(NGINX_LOG_FORMAT);
  expect(nginx).toContain("access_log /dev/stdout trace ");
  expect(fileOf("web-1-app", "/etc/webstack/uwsgi.ini")).toContain(`log-format = ${UWSGI_LOG_FORMAT}`);
  expect(fileOf("api-1-app", "/etc/webstack/gunicorn.conf.py")).toContain(`access_log_format = ${JSON.stringify(GUNICORN_ACCESS_LOG_FORMAT)}`);
  expect(fileOf("db-primary", "/etc/postgresql/postgresql.conf")).toContain(`log_line_prefix = '${PG_LOG_LINE_PREFIX}'`);
  expect(fileOf("db-primary", "/etc/postgresql/postgresql.conf")).toMatch(/^log_min_duration_statement = 500$/m);
  const worker = containers.find((c) => c.key === "worker-1")!.command;
  expect(worker).toContain(`worker_log_format=${CELERY_WORKER_LOG_FORMAT}`);
  expect(worker).toContain(`worker_task_log_format=${CELERY_TASK_LOG_FORMAT}`);
});

test("the README's guide prints every format as rendered", () => {
  expect(guide.length).toBeGreaterThan(1000);
  for (const f of [HAPROXY_LOG_FORMAT, NGINX_LOG_FORMAT, UWSGI_LOG_FORMAT, GUNICORN_ACCESS_LOG_FORMAT, CELERY_WORKER_LOG_FORMAT, CELERY_TASK_LOG_FORMAT, `'${PG_LOG_LINE_PREFIX}'`]) {
    expect(guide).toContain(f);
  }
  // Every format carries the request id (PostgreSQL's the tier instead: it never sees the request).
  for (const f of [HAPROXY_LOG_FORMAT, NGINX_LOG_FORMAT, UWSGI_LOG_FORMAT, GUNICORN_ACCESS_LOG_FORMAT, CELERY_WORKER_LOG_FORMAT, CELERY_TASK_LOG_FORMAT]) expect(f).toMatch(/request_id=/);
  expect(PG_LOG_LINE_PREFIX).toContain("%a");
});
