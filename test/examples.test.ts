import { buildHaSiteStack } from "../examples/ha-site/stack";
import { buildHaPooledSiteStack } from "../examples/ha-pooled-site/stack";
import { buildInvenioStack, buildInvenioSwarmStack } from "../examples/invenio/stack";
import { buildDjangoSiteStack } from "../examples/django-site/stack";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { FILE_CONTENT_ROUTE, buildInvenioRdmStack } from "../examples/invenio-rdm/stack";
import { BudgetError, RULES, SWARM_RULES } from "../lib";
import { readTree, synthApp } from "./helpers";
import { App } from "cdktf";

describe.each([
  ["invenio", buildInvenioStack],
  ["invenio-swarm", buildInvenioSwarmStack],
  ["small-site", buildSmallSiteStack],
  ["django-site", buildDjangoSiteStack],
  ["invenio-rdm", buildInvenioRdmStack],
  ["ha-site", buildHaSiteStack],
  ["ha-pooled-site", buildHaPooledSiteStack],
])("example %s", (_name, build) => {
  const { dir } = synthApp((app) => build(app));
  const tree = readTree(dir);

  test("writes cdk.tf.json, both capacity reports and the files of every container that has some", () => {
    expect(Object.keys(tree)).toEqual(expect.arrayContaining(["cdk.tf.json", "capacity.md", "capacity.json"]));
    const report = JSON.parse(tree["capacity.json"]);
    const owners = new Set(Object.keys(tree).filter((p) => p.startsWith("configs/")).map((p) => p.split("/")[1].split(".")[0]));
    const withFiles = report.containers.filter((c: { key: string; role: string }) => !["celery-beat", "flower", "memcached", "redis-exporter", "nginx-exporter", "elasticsearch-exporter"].includes(c.role));
    expect([...owners].sort()).toEqual(withFiles.map((c: { key: string }) => c.key).sort());
  });

  test("the report lists every rule, evaluated or not applicable (and the swarm rules on a swarm)", () => {
    const rules = JSON.parse(tree["cdk.tf.json"]).resource.docker_service ? [...RULES, ...SWARM_RULES] : RULES;
    for (const rule of rules) expect(tree["capacity.md"]).toMatch(new RegExp(`^\\| ${rule.id} \\|`, "m"));
    expect(JSON.parse(tree["capacity.json"]).rules.map((r: { id: string }) => r.id)).toEqual(rules.map((r) => r.id));
  });

  test("passes every budget rule", () => {
    const report = JSON.parse(tree["capacity.json"]);
    expect(report.findings.filter((f: { status: string }) => f.status === "fail")).toEqual([]);
  });

  test("rendered files match their snapshots", () => {
    for (const [file, content] of Object.entries(tree)) {
      if (file.startsWith("configs/") || file === "capacity.md") expect(content).toMatchSnapshot(file);
    }
  });

  test("synthesizing twice gives identical bytes", () => {
    const again = readTree(synthApp((app) => build(app)).dir);
    expect(again).toEqual(tree);
  });

  test("no rendered file holds a build-machine path, a timestamp or a secret value", () => {
    const text = Object.values(tree).join("\n");
    expect(text).not.toContain(process.cwd());
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT\d\d:/);
    expect(tree["cdk.tf.json"]).not.toMatch(/"default":/);
  });
});

test("the over-budget variant fails with WS-DB-CONNECTIONS and its arithmetic", () => {
  // No outdir is ever written: the budget fails before the synthesizer runs (a run that failed halfway may have left one).
  require("node:fs").rmSync(require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written"), { recursive: true, force: true });
  const app = new App({ outdir: require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written") });
  buildInvenioStack(app, "over-budget", { webNodes: 12 });
  expect(() => app.synth()).toThrow(BudgetError);
  try {
    app.synth();
  } catch (e) {
    const message = (e as Error).message;
    expect(message).toContain("[over-budget/db] WS-DB-CONNECTIONS FAILED");
    expect(message).toContain("over-budget/web: 12 nodes x 8 processes x 2 (the smaller of 2 threads and 5 pool + 0 overflow) = 192");
    expect(message).toContain("usable = max_connections 200 - superuser_reserved_connections 3 = 197");
    expect(message).toContain("211 > 197");
    expect(message).toContain("fix: raise maxConnections of over-budget/db to 214 (check its memoryMiB, WS-DB-MEMORY), or lower nodes of over-budget/web to 11");
  }
  // Nothing of the stack is written (cdktf itself makes the empty stacks/ folder when the App is created).
  const outdir = require("node:path").join(require("node:os").tmpdir(), "webstack-over-budget-never-written");
  expect(require("node:fs").existsSync(require("node:path").join(outdir, "stacks", "over-budget"))).toBe(false);
  require("node:fs").rmSync(outdir, { recursive: true, force: true });
});

test("django-site: Django's settings under its own names, migrations as the release, collectstatic before gunicorn, DatabaseScheduler beat", () => {
  const { stack } = synthApp((app) => buildDjangoSiteStack(app));
  const byKey = new Map(stack.cluster().plan.containers.map((c) => [c.key, c]));
  const app = byKey.get("web-1-app")!;
  expect(app.env).toMatchObject({ DJANGO_ALLOWED_HOSTS: "www.example.com", DJANGO_SECRET_KEY: "@@secret:django_secret_key@@", DJANGO_STATIC_ROOT: "/srv/app/static" });
  expect(app.env.REDIS_URL).toBe(app.env.CELERY_BROKER_URL);
  expect(app.env.DATABASE_URL).toMatch(/^postgresql:\/\/app:@@secret:db_password@@@172\.29\.1\.10:5432\/app\?target_session_attrs=read-write$/);
  expect(app.command.slice(0, 3)).toEqual(["/bin/sh", "-c", 'set -e\npython3 manage.py collectstatic --noinput\nexec "$@"']);
  expect(app.mounts).toEqual([{ volume: "web-1-static", path: "/srv/app/static", readOnly: false }]);
  expect(byKey.get("web-1-nginx")!.mounts).toEqual([{ volume: "web-1-static", path: "/srv/static", readOnly: true }]);
  const release = byKey.get("web-release")!;
  expect(release.files.find((f) => f.path === "/etc/webstack/release.sh")!.content).toContain("\npython3 manage.py migrate --noinput\n");
  expect(release.env).toEqual(app.env);
  for (const key of ["web-1-app", "web-2-app", "worker-1", "worker-beat"]) expect(byKey.get(key)!.dependsOn).toContain("web-release");
  expect(byKey.get("worker-beat")!.command).toContain("--scheduler=django_celery_beat.schedulers:DatabaseScheduler");
});

test("invenio-rdm: UI and REST pools, /api to the REST pool mounted at /api, 50g on the file content alone, five Redis databases", () => {
  const { stack } = synthApp((app) => buildInvenioRdmStack(app));
  const byKey = new Map(stack.cluster().plan.containers.map((c) => [c.key, c]));
  const file = (key: string, path: string) => byKey.get(key)!.files.find((f) => f.path === path)!.content;
  const rest = file("api-1-app", "/etc/webstack/uwsgi.ini");
  expect(rest).toMatch(/^mount = \/api=webstack_example\.wsgi:application\nmanage-script-name = true$/m);
  expect(file("ui-1-app", "/etc/webstack/uwsgi.ini")).not.toMatch(/^mount/m);
  for (const ini of [rest, file("ui-1-app", "/etc/webstack/uwsgi.ini")]) {
    expect(ini).toMatch(/^processes = 6\nthreads = 4$/m);
    expect(ini).toMatch(/^buffer-size = 8192$/m);
    expect(ini).toMatch(/^wsgi-disable-file-wrapper = true$/m);
  }
  const nginx = file("api-1-nginx", "/etc/nginx/nginx.conf");
  expect(nginx).toContain(`location ~ "${FILE_CONTENT_ROUTE}" {`);
  expect(nginx).toMatch(/client_max_body_size 50g;/);
  expect(nginx).toMatch(/client_max_body_size 100m;/);
  expect(file("lb", "/usr/local/etc/haproxy/haproxy.cfg")).toMatch(/acl route_api path_beg \/api\n[\s\S]*use_backend api if route_api/);
  const env = byKey.get("ui-1-app")!.env;
  expect(Object.fromEntries(Object.entries(env).filter(([k]) => /REDIS_URL|RESULT_BACKEND|STORAGE_URL/.test(k) && k.startsWith("INVENIO_")).map(([k, v]) => [k, v.slice(-2)]))).toEqual({
    INVENIO_CACHE_REDIS_URL: "/0",
    INVENIO_ACCOUNTS_SESSION_REDIS_URL: "/1",
    INVENIO_CELERY_RESULT_BACKEND: "/2",
    INVENIO_RATELIMIT_STORAGE_URL: "/3",
    INVENIO_COMMUNITIES_IDENTITIES_CACHE_REDIS_URL: "/4",
  });
  expect(env.INVENIO_SQLALCHEMY_DATABASE_URI).toBe(env.DATABASE_URL);
  expect(env.INVENIO_CELERY_BROKER_URL).toBe(env.CELERY_BROKER_URL);
  expect(env.INVENIO_SECRET_KEY).toBe("@@secret:invenio_secret_key@@");
  expect([...byKey.keys()].filter((k) => k.startsWith("worker"))).toEqual(expect.arrayContaining(["worker-1", "worker-2", "worker-beat"]));
});
