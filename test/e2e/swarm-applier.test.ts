/**
 * The applier's swarm resources, without an engine: a synthesized swarm stack is fully known to it
 * (every attribute handled, every template evaluates), anything else fails by name, and the
 * attributes map to the Engine API as the provider maps them.
 */
import { Testing } from "cdktf";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Cache, Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier } from "../../lib";
import { apply, renderTemplate, templateProblems } from "./applier";
import { parseLifecycle } from "./lifecycle";
import { checkSchema } from "./provider-schema";
import { serviceSpec } from "./service-schema";
import { renderResource, type Refs } from "./template-eval";

function swarmJson(): any {
  const stack = new WebStack(Testing.app(), "shop", {
    target: { kind: "swarm", hosts: ["a", "b", "c"].map((name) => ({ name, memoryMiB: 8192, cpus: 2, roles: ["manager" as const, "edge" as const, "data" as const, "app" as const] })) },
  });
  const db = new Database(stack, "db", { replicas: 1, memoryMiB: 2048, maxConnections: 100 });
  const cache = new Cache(stack, "cache");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: "webstack-example-app:e2e", wsgiModule: "webstack_example.wsgi:application", nodes: 3, processes: 2, threads: 2, database: db, cache, queue: mq });
  new WorkerTier(stack, "worker", { image: "webstack-example-app:e2e", celeryApp: "webstack_example.tasks", nodes: 2, concurrency: 2, beat: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return JSON.parse(Testing.synth(stack));
}

function file(doc: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-swarm-applier-"));
  const f = path.join(dir, "cdk.tf.json");
  fs.writeFileSync(f, JSON.stringify(doc));
  return f;
}

describe("e2e applier on a swarm stack (no engine)", () => {
  const doc = swarmJson();
  const res = doc.resource as Record<string, Record<string, any>>;

  test("every attribute of the swarm stack is one it handles, every lifecycle one it knows, every template evaluates", () => {
    const errors = Object.entries(res).flatMap(([type, rs]) => Object.entries(rs).flatMap(([name, r]) => [...checkSchema(type, name, r), ...parseLifecycle(type, name, r.lifecycle).errors]));
    expect(errors).toEqual([]);
    expect(templateProblems(file(doc))).toEqual([]);
  });

  test("an attribute it does not handle, at any depth, fails the apply by its path", async () => {
    const bad = JSON.parse(JSON.stringify(doc));
    bad.resource.docker_service["service-web-app"].task_spec.container_spec.privileges = { se_linux_context: {} };
    bad.resource.docker_service["service-web-app"].task_spec.placement.platforms = [{ os: "linux", architecture: "amd64" }];
    bad.resource.docker_config["config-web-nginx-etc-nginx-nginx-conf"].template_driver = "golang";
    const out = apply(file(bad), {});
    await expect(out).rejects.toThrow(/docker_service\.service-web-app: attribute "task_spec\.container_spec\.privileges" is not handled/);
    await expect(apply(file(bad), {})).rejects.toThrow(/attribute "task_spec\.placement\.platforms" is not handled/);
    await expect(apply(file(bad), {})).rejects.toThrow(/docker_config\.config-web-nginx-etc-nginx-nginx-conf: attribute "template_driver" is not handled/);
    const lifecycle = parseLifecycle("docker_secret", "s", { create_before_destroy: true, prevent_destroy: true });
    expect(lifecycle.errors).toEqual(['docker_secret.s: lifecycle argument "prevent_destroy" is not handled by the e2e applier']);
  });

  test("the secret names and data evaluate as Terraform's sha256, substr and base64encode do", () => {
    const refs: Refs = { vars: { db_password: "0123456789abcdef-pw" }, networks: {}, images: {}, volumes: {} };
    const bad: string[] = [];
    const r = renderResource("docker_secret", "secret-db_password", res.docker_secret["secret-db_password"], refs, []);
    expect(r.name).toBe(`shop-db_password-${createHash("sha256").update("0123456789abcdef-pw").digest("hex").slice(0, 12)}`);
    expect(Buffer.from(String(r.data), "base64").toString()).toBe("0123456789abcdef-pw");
    expect(renderTemplate("${substr(var.db_password, 2, 3)}", refs, (t) => bad.push(t))).toBe("234");
    renderTemplate("${upper(var.db_password)} ${substr(var.db_password, 1)}", refs, (t) => bad.push(t));
    expect(bad).toEqual(["${upper(var.db_password)}", "${substr(var.db_password, 1)}"]);
  });

  test("a service maps to the Engine API ServiceSpec as the provider maps it", () => {
    const refs: Refs = {
      vars: {},
      networks: { network: "shop-net" },
      images: {},
      volumes: {},
      configs: new Proxy({}, { get: (_, k) => ({ id: `id-${String(k)}`, name: `name-${String(k)}` }) }) as never,
      secrets: new Proxy({}, { get: (_, k) => ({ id: `id-${String(k)}`, name: `name-${String(k)}` }) }) as never,
    };
    const spec = serviceSpec(renderResource("docker_service", "service-web-nginx", res.docker_service["service-web-nginx"], refs, []), { "webstack.e2e": "1" }) as any;
    expect(spec.Name).toBe("shop-web-nginx");
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(spec.EndpointSpec).toEqual({ Mode: "dnsrr", Ports: [] });
    expect(spec.UpdateConfig).toEqual({ Parallelism: 1, Delay: 5e9, FailureAction: "rollback", Monitor: 40e9, MaxFailureRatio: 0, Order: "start-first" });
    expect(spec.TaskTemplate.Placement).toEqual({ Constraints: ["node.labels.webstack.app==true"], Preferences: [{ Spread: { SpreadDescriptor: "node.labels.webstack.host" } }], MaxReplicas: 2 });
    expect(spec.TaskTemplate.Networks).toEqual([{ Target: "shop-net", Aliases: ["web-nginx"] }]);
    expect(spec.TaskTemplate.ContainerSpec.Configs).toEqual([
      { File: { Name: "/etc/nginx/nginx.conf", UID: "0", GID: "0", Mode: 0o444 }, ConfigID: "id-config-web-nginx-etc-nginx-nginx-conf", ConfigName: "name-config-web-nginx-etc-nginx-nginx-conf" },
    ]);
    expect(spec.TaskTemplate.ContainerSpec.Healthcheck).toMatchObject({ Interval: 10e9, Timeout: 5e9, Retries: 3 });
    expect(spec.TaskTemplate.Resources.Reservations.MemoryBytes).toBe(spec.TaskTemplate.Resources.Limits.MemoryBytes);
    const lb = serviceSpec(renderResource("docker_service", "service-lb", res.docker_service["service-lb"], refs, []), {}) as any;
    expect(lb.EndpointSpec.Ports).toEqual([{ Name: undefined, Protocol: "tcp", TargetPort: 80, PublishedPort: 80, PublishMode: "host" }]);
    const app = serviceSpec(renderResource("docker_service", "service-web-app", res.docker_service["service-web-app"], refs, []), {}) as any;
    expect(app.TaskTemplate.ContainerSpec.Secrets.map((s: any) => s.File.Name)).toEqual(["cache_password", "db_password", "mq_password"]);
    expect(app.TaskTemplate.ContainerSpec.Env.some((e: string) => e.startsWith("DATABASE_URL="))).toBe(false);
  });
});
