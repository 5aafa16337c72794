/**
 * Release steps (a one-shot container before the web nodes), app secrets, and the node health checks
 * that send the site's Host.
 */
import { containerFingerprint } from "../lib/core/hash";
import { Database, LoadBalancer, PropsError, Queue, WebTier, WorkerTier } from "../lib";
import { IMAGE, WSGI, fileOf, newStack, synthJson } from "./helpers";

function site(release: string[] = ["python3 manage.py migrate --noinput"], siteHost?: string) {
  const stack = newStack({ appSecrets: { django_secret_key: "Django's SECRET_KEY" } });
  const db = new Database(stack, "db");
  const other = new Database(stack, "other");
  const mq = new Queue(stack, "mq", { engine: "redis" });
  const web = new WebTier(stack, "web", {
    image: IMAGE, wsgiModule: WSGI, server: "gunicorn", nodes: 2, processes: 2, threads: 1, database: db, queue: mq, release,
    environment: { DJANGO_SECRET_KEY: stack.secret("django_secret_key"), REDIS_URL: mq.url() },
  });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "a", beat: true, database: db, queue: mq });
  new WorkerTier(stack, "reports", { image: IMAGE, celeryApp: "b", database: other, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web, siteHost });
  return stack;
}

const byKey = (stack: ReturnType<typeof newStack>) => new Map(stack.cluster().plan.containers.map((c) => [c.key, c]));

test("the release container runs the commands once, with the app's image and environment, before the tier's app containers", () => {
  const stack = site(["python3 manage.py migrate --noinput", "python3 manage.py createcachetable"]);
  const c = byKey(stack);
  const release = c.get("web-release")!;
  const app = c.get("web-1-app")!;
  expect(release).toMatchObject({ role: "release", image: IMAGE, command: ["/bin/sh", "/etc/webstack/release.sh"], oneShot: expect.any(Object) });
  expect(release.env).toEqual(app.env);
  // At the end of the tier's block (index 244), so adding nodes never moves it.
  expect(release.address).toBe("172.30.4.254");
  expect(release.dependsOn).toEqual(["db-primary", "mq"]);
  expect(app.dependsOn).toEqual(["db-primary", "mq", "web-release"]);
  expect(c.get("web-2-app")!.dependsOn).toContain("web-release");
  // The plan lists it before every container that depends on it.
  const keys = [...c.keys()];
  expect(keys.indexOf("web-release")).toBeLessThan(keys.indexOf("web-1-app"));
  const script = fileOf(stack, "web-release", "/etc/webstack/release.sh");
  expect(script.split("\n")).toEqual([
    "#!/bin/sh",
    "# Release steps of test/web: run once per deploy, before its web nodes are created.",
    "# The deploy waits for this container to exit and fails when its exit code is not 0.",
    "set -e",
    "python3 /etc/webstack/wait-for-services.py 300 postgres:172.30.1.10:5432:app:app tcp:172.30.3.10:6379",
    "printf 'release: %s\\n' 'python3 manage.py migrate --noinput'",
    "python3 manage.py migrate --noinput",
    "printf 'release: %s\\n' 'python3 manage.py createcachetable'",
    "python3 manage.py createcachetable",
    "echo 'release: done'",
    "",
  ]);
});

test("Celery containers on the same database start after the release; those on another database do not wait", () => {
  const c = byKey(site());
  expect(c.get("worker-1")!.dependsOn).toContain("web-release");
  expect(c.get("worker-beat")!.dependsOn).toContain("web-release");
  expect(c.get("reports-1")!.dependsOn).not.toContain("web-release");
});

test("emitted as a one-shot: attach, must_run false, restart no, a postcondition on exit_code, no health check", () => {
  const tf = synthJson(site());
  const r = tf.resource.docker_container["container-web-release"];
  expect(r).toMatchObject({ attach: true, must_run: false, restart: "no", healthcheck: { test: ["NONE"] } });
  expect(r.lifecycle.postcondition).toEqual([
    {
      condition: "${self.exit_code == 0}",
      error_message: expect.stringMatching(/^The release steps of test\/web failed \(the container test-web-release exited non-zero;.*terraform apply -replace=docker_container\.container-web-release\.$/),
    },
  ]);
  expect(tf.resource.docker_container["container-web-1-app"].depends_on).toContain("docker_container.container-web-release");
  const app = tf.resource.docker_container["container-web-1-app"];
  expect(app).toMatchObject({ must_run: true, restart: "unless-stopped" });
  expect(app.attach).toBeUndefined();
  expect(app.lifecycle).toBeUndefined();
});

test("new commands change the release container's config-hash label (the provider replaces it, and it runs again)", () => {
  const a = byKey(site(["python3 manage.py migrate --noinput"])).get("web-release")!;
  const b = byKey(site(["python3 manage.py migrate --noinput", "true"])).get("web-release")!;
  expect(containerFingerprint(a)).not.toBe(containerFingerprint(b));
});

test("without release steps there is no release container and nothing else changes", () => {
  const c = byKey(site([]));
  expect(c.has("web-release")).toBe(false);
  expect(c.get("web-1-app")!.dependsOn).toEqual(["db-primary", "mq"]);
  expect(c.get("worker-1")!.dependsOn).toEqual(["db-primary", "mq"]);
});

test("a release command with a newline, or an empty one, is a props error naming the field", () => {
  const stack = newStack();
  expect(() => new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, release: ["migrate\nrm -rf /"] })).toThrow(PropsError);
  expect(() => new WebTier(newStack(), "web", { image: IMAGE, wsgiModule: WSGI, release: [""] })).toThrow(/release/);
  expect(() => new WebTier(newStack(), "web", { image: IMAGE, wsgiModule: WSGI, release: ["a\nb"] })).toThrow(/release\.0: one command per entry, no newline/);
});

test("app secrets: a sensitive variable without default, placed by stack.secret; an undeclared one is refused", () => {
  const stack = site();
  const tf = synthJson(stack);
  expect(tf.variable.django_secret_key).toMatchObject({ sensitive: true, type: "string" });
  expect(tf.variable.django_secret_key.default).toBeUndefined();
  const env: string[] = tf.resource.docker_container["container-web-1-app"].env;
  expect(env).toContain("DJANGO_SECRET_KEY=${var.django_secret_key}");
  expect(() => newStack().secret("django_secret_key")).toThrow(/secret\("django_secret_key"\): not in appSecrets; declare it there/);
  expect(() => newStack({ appSecrets: { db_password: "mine" } })).not.toThrow();
  const clash = newStack({ appSecrets: { db_password: "mine" } });
  new WebTier(clash, "web", { image: IMAGE, wsgiModule: WSGI, database: new Database(clash, "db") });
  expect(() => clash.cluster()).toThrow(/two secrets are named 'db_password'/);
});

test("with a site host, the node health checks send it as Host (an app checking Host answers them); without, they are unchanged", () => {
  const withHost = byKey(site(undefined, "www.example.com"));
  expect(withHost.get("web-1-nginx")!.healthcheck.test).toEqual(["CMD", "curl", "--fail", "--silent", "--output", "/dev/null", "--max-time", "4", "--header", "Host: www.example.com", "http://127.0.0.1/ping"]);
  expect(withHost.get("web-1-app")!.healthcheck.test[3]).toContain('headers={"Host": "www.example.com"}');
  const without = byKey(site());
  expect(without.get("web-1-nginx")!.healthcheck.test).toEqual(["CMD", "curl", "--fail", "--silent", "--output", "/dev/null", "--max-time", "4", "http://127.0.0.1/ping"]);
  expect(without.get("web-1-app")!.healthcheck.test[3]).toBe('import urllib.request; urllib.request.urlopen("http://127.0.0.1:8000/ping", timeout=4)');
});

test("a tier with release steps and 123 nodes no longer fits its address block (WS-NET-COLLISIONS)", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 122, processes: 1, threads: 1, release: ["true"] });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const fits = stack.cluster().findings.find((f) => f.ruleId === "WS-NET-COLLISIONS")!;
  expect(fits.used).toBe(0);
  const over = newStack();
  const big = new WebTier(over, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 123, processes: 1, threads: 1, release: ["true"] });
  new LoadBalancer(over, "lb", { defaultTarget: big });
  expect(() => over.cluster()).toThrow(/test\/web: 247 containers > 245 addresses in its block/);
});

test("the release container's connection counts in WS-DB-CONNECTIONS (it may run beside the nodes)", () => {
  const f = site().cluster().findings.find((x) => x.ruleId === "WS-DB-CONNECTIONS" && x.constructPath === "test/db")!;
  expect(f.lines).toContain("test/web (release): 1 release container x 1 connection per command = 1");
  const none = site([]).cluster().findings.find((x) => x.ruleId === "WS-DB-CONNECTIONS" && x.constructPath === "test/db")!;
  expect(f.used).toBe(none.used + 1);
});
