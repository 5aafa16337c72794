/**
 * The stack's `errorReporting`: the DSN is a sensitive variable, in the environment of every container
 * that runs the app's code and of no other, never in a rendered file; without the prop nothing changes.
 */
import { Testing } from "cdktf";
import { Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier, type WebStackProps } from "../lib";
import { IMAGE, WSGI, synthJson } from "./helpers";

const hosts = [
  { name: "node-1", memoryMiB: 8192, cpus: 4, roles: ["manager" as const, "edge" as const, "data" as const, "app" as const] },
  { name: "node-2", memoryMiB: 8192, cpus: 4, roles: ["data" as const, "app" as const] },
  { name: "node-3", memoryMiB: 8192, cpus: 4, roles: ["data" as const, "app" as const] },
];

function site(props: WebStackProps, environment: Record<string, string> = {}, release: string[] = ["python3 manage.py migrate --noinput"]) {
  const stack = new WebStack(Testing.app(), "site", props);
  const db = new Database(stack, "db");
  const mq = new Queue(stack, "mq", { engine: "redis" });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, database: db, queue: mq, release, environment });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", beat: true, flower: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

/** The keys of the containers whose environment holds `name`, and every rendered file's text. */
function where(stack: WebStack, name: string) {
  const containers = stack.cluster().plan.containers;
  return {
    holders: containers.filter((c) => Object.hasOwn(c.env, name)).map((c) => c.key).sort(),
    files: containers.flatMap((c) => c.files.map((f) => f.content)).join("\n"),
  };
}

const APP_CODE = ["web-1-app", "web-2-app", "web-release", "worker-1", "worker-beat", "worker-flower"];

test("with errorReporting, SENTRY_DSN is the sensitive variable sentry_dsn in every container running the app's code, and in no file", () => {
  const stack = site({ errorReporting: {} });
  const { holders, files } = where(stack, "SENTRY_DSN");
  expect(holders).toEqual(APP_CODE);
  expect(files).not.toMatch(/sentry_dsn|SENTRY_DSN/);
  const tf = synthJson(stack);
  expect(tf.variable.sentry_dsn).toMatchObject({ sensitive: true, type: "string" });
  expect(tf.variable.sentry_dsn.default).toBeUndefined();
  // Validated as an http(s) URL: a DSN is one (https://<key>@<host>/<project>).
  expect(tf.variable.sentry_dsn.validation[0].condition).toContain("https?://");
  for (const key of APP_CODE) expect(tf.resource.docker_container[`container-${key}`].env).toContain("SENTRY_DSN=${var.sentry_dsn}");
  for (const key of ["lb", "web-1-nginx", "db-primary", "mq"]) expect(JSON.stringify(tf.resource.docker_container[`container-${key}`])).not.toContain("sentry_dsn");
});

test("the variable and the environment variable can be named (Invenio reads INVENIO_SENTRY_DSN)", () => {
  const stack = site({ errorReporting: { dsnVariable: "ops_dsn", environmentVariable: "INVENIO_SENTRY_DSN" } });
  expect(where(stack, "INVENIO_SENTRY_DSN").holders).toEqual(APP_CODE);
  expect(where(stack, "SENTRY_DSN").holders).toEqual([]);
  const tf = synthJson(stack);
  expect(tf.variable.ops_dsn).toMatchObject({ sensitive: true });
  expect(tf.variable.sentry_dsn).toBeUndefined();
  expect(tf.resource.docker_container["container-worker-1"].env).toContain("INVENIO_SENTRY_DSN=${var.ops_dsn}");
});

test("without errorReporting there is no DSN variable and no SENTRY_DSN anywhere", () => {
  const stack = site({});
  expect(where(stack, "SENTRY_DSN").holders).toEqual([]);
  const tf = synthJson(stack);
  expect(Object.keys(tf.variable ?? {}).filter((v) => /dsn/.test(v))).toEqual([]);
  expect(JSON.stringify(tf)).not.toMatch(/SENTRY_DSN|sentry_dsn/);
});

test("bad names and a second source for the same variable are refused, naming the field", () => {
  expect(() => site({ errorReporting: { dsnVariable: "Sentry-DSN" } })).toThrow(/errorReporting\.dsnVariable/);
  expect(() => site({ errorReporting: { environmentVariable: "sentry dsn" } })).toThrow(/errorReporting\.environmentVariable/);
  expect(() => site({ errorReporting: { dsn: "https://k@example.com/1" } as never })).toThrow(/errorReporting/);
  // The tier's own environment may not set it too: one value, from the sensitive variable.
  expect(() => site({ errorReporting: {} }, { SENTRY_DSN: "https://k@example.com/1" }).cluster()).toThrow(/\[site\/web\] invalid props:\n\s+- environment\.SENTRY_DSN: set from the stack's errorReporting/);
  expect(() => site({}, { SENTRY_DSN: "https://k@example.com/1" }).cluster()).not.toThrow();
});

test("on a swarm the DSN is a docker_secret the app and workers read from a file: no variable in any service spec", () => {
  const stack = site({ target: { kind: "swarm", hosts }, errorReporting: {} }, {}, []);
  const json = synthJson(stack);
  expect(json.resource.docker_secret["secret-sentry_dsn"].data).toBe("${base64encode(var.sentry_dsn)}");
  for (const key of ["web-app", "worker", "worker-beat"]) {
    const spec = json.resource.docker_service[`service-${key}`].task_spec.container_spec;
    expect(JSON.stringify(spec)).not.toMatch(/var\.|@@secret/);
    expect(spec.secrets.map((x: { file_name: string }) => x.file_name)).toContain("sentry_dsn");
    const envScript = Object.entries<{ data: string }>(json.resource.docker_config).find(([k]) => k === `config-${key}-etc-webstack-swarm-env-sh`)![1].data;
    expect(Buffer.from(envScript, "base64").toString()).toMatch(/^SENTRY_DSN="\$\(cat \/run\/secrets\/sentry_dsn\)"$/m);
  }
});
