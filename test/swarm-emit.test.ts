import { Testing } from "cdktf";
import { Cache, Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier, type WebStackProps } from "../lib";
import { shellWordReadingSecrets, swarmEnvironment, swarmServices } from "../lib/docker/swarm-services";
import { IMAGE, WSGI, synthJson } from "./helpers";

const hosts = [
  { name: "node-1", memoryMiB: 8192, cpus: 4, roles: ["manager" as const, "edge" as const, "data" as const, "app" as const] },
  { name: "node-2", memoryMiB: 8192, cpus: 4, roles: ["data" as const, "app" as const] },
  { name: "node-3", memoryMiB: 8192, cpus: 4, roles: ["data" as const, "app" as const] },
];

function shop(props: WebStackProps = { target: { kind: "swarm", hosts } }, release: string[] = []) {
  const stack = new WebStack(Testing.app(), "shop", props);
  const db = new Database(stack, "db", { replicas: 1, memoryMiB: 2048, maxConnections: 100 });
  const cache = new Cache(stack, "cache");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 3, processes: 2, threads: 2, database: db, cache, queue: mq, release });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", nodes: 2, concurrency: 2, beat: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

describe("swarm resources", () => {
  const stack = shop();
  const json = synthJson(stack);
  const r = json.resource;
  const service = (key: string) => r.docker_service[`service-${key}`];
  const text = JSON.stringify(json);

  test("services instead of containers, on an overlay network of the stack's subnet, no images or volumes", () => {
    expect(Object.keys(r).sort()).toEqual(["docker_config", "docker_network", "docker_secret", "docker_service"]);
    expect(Object.keys(r.docker_service).sort()).toEqual(
      ["cache", "db-primary", "db-replica-1", "lb", "mq", "web-app", "web-nginx", "worker", "worker-beat"].map((k) => `service-${k}`),
    );
    expect(r.docker_network.network).toEqual({ name: "shop-net", driver: "overlay", attachable: true, ipam_config: [{ subnet: "172.30.0.0/16" }] });
    for (const s of Object.values<any>(r.docker_service)) {
      expect(s.endpoint_spec.mode).toBe("dnsrr");
      expect(s.task_spec.networks_advanced[0].name).toBe("${docker_network.network.name}");
      expect(s.task_spec.resources.reservation.memory_bytes).toBe(s.task_spec.resources.limits.memory_bytes);
      expect(s.task_spec.restart_policy).toEqual({ condition: "any", delay: "5s", window: "60s" });
      expect(s.task_spec.container_spec.healthcheck.test.length).toBeGreaterThan(1);
    }
  });

  test("replicas from nodes; web tiers roll one at a time, start-first, rolling back on failure", () => {
    expect(service("web-app").mode).toEqual({ replicated: { replicas: 3 } });
    expect(service("web-nginx").mode).toEqual({ replicated: { replicas: 3 } });
    expect(service("worker").mode).toEqual({ replicated: { replicas: 2 } });
    expect(service("web-nginx").update_config).toMatchObject({ parallelism: 1, order: "start-first", failure_action: "rollback" });
    expect(service("web-nginx").rollback_config).toMatchObject({ parallelism: 1, order: "start-first" });
    // A pinned member has its volume on one host, the load balancer its host ports: they stop first.
    expect(service("db-primary").update_config.order).toBe("stop-first");
    expect(service("lb").update_config.order).toBe("stop-first");
    // Two beats would send every periodic task twice.
    expect(service("worker-beat").update_config.order).toBe("stop-first");
    expect(service("worker").update_config.order).toBe("start-first");
    // nginx finishes its requests in flight when a rolling update stops it (SIGTERM would cut them).
    expect(service("web-nginx").task_spec.container_spec.stop_signal).toBe("SIGQUIT");
    expect(service("web-app").task_spec.container_spec.stop_signal).toBeUndefined();
  });

  test("placement: stateless spread over app hosts, members pinned by host label, the load balancer on edge hosts publishing in host mode", () => {
    expect(service("web-app").task_spec.placement).toEqual({ constraints: ["node.labels.webstack.app==true"], max_replicas: 2, prefs: ["spread=node.labels.webstack.host"] });
    const primary = service("db-primary").task_spec.placement.constraints;
    const standby = service("db-replica-1").task_spec.placement.constraints;
    expect(primary).toHaveLength(1);
    expect(primary[0]).toMatch(/^node\.labels\.webstack\.host==node-[123]$/);
    expect(standby[0]).not.toBe(primary[0]);
    expect(service("db-primary").task_spec.container_spec.mounts).toEqual([{ type: "volume", source: "shop-db-primary-data", target: "/var/lib/postgresql/data", read_only: false }]);
    expect(service("lb").task_spec.placement.constraints).toEqual(["node.labels.webstack.edge==true"]);
    expect(service("lb").endpoint_spec.ports).toEqual([{ target_port: 80, published_port: 80, publish_mode: "host", protocol: "tcp" }]);
  });

  test("rendered files are configs named by their content hash; replicas share them", () => {
    const nginx = service("web-nginx").task_spec.container_spec.configs;
    expect(nginx.map((c: any) => c.file_name)).toEqual(["/etc/nginx/nginx.conf"]);
    const config = r.docker_config["config-web-nginx-etc-nginx-nginx-conf"];
    expect(config.name).toMatch(/^shop-web-nginx-nginx-conf-[0-9a-f]{12}$/);
    expect(Buffer.from(config.data, "base64").toString()).toContain("server shop-web-app:8000;");
    expect(config.lifecycle).toEqual({ create_before_destroy: true });
    expect(service("db-primary").task_spec.container_spec.configs.find((c: any) => c.file_name === "/etc/postgresql/start.sh").file_mode).toBe(0o555);
  });

  test("a changed file changes its config's name, and nothing else's", () => {
    const other = synthJson(
      (() => {
        const s = new WebStack(Testing.app(), "shop", { target: { kind: "swarm", hosts } });
        const db = new Database(s, "db", { replicas: 1, memoryMiB: 2048, maxConnections: 100 });
        const cache = new Cache(s, "cache");
        const mq = new Queue(s, "mq");
        const web = new WebTier(s, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 3, processes: 2, threads: 2, database: db, cache, queue: mq, clientMaxBodySize: "20m" });
        new WorkerTier(s, "worker", { image: IMAGE, celeryApp: "app.tasks", nodes: 2, concurrency: 2, beat: true, database: db, queue: mq });
        new LoadBalancer(s, "lb", { defaultTarget: web });
        return s;
      })(),
    ).resource.docker_config;
    const changed = Object.keys(other).filter((k) => other[k].name !== r.docker_config[k].name);
    expect(changed).toContain("config-web-nginx-etc-nginx-nginx-conf");
    expect(changed.every((k) => k.startsWith("config-web-"))).toBe(true);
  });

  test("secrets are docker_secrets read from files; no secret value or variable in any service spec", () => {
    expect(r.docker_secret["secret-db_password"]).toEqual({
      name: "shop-db_password-${substr(sha256(var.db_password), 0, 12)}",
      data: "${base64encode(var.db_password)}",
      lifecycle: { create_before_destroy: true },
    });
    for (const s of Object.values<any>(r.docker_service)) {
      expect(JSON.stringify(s)).not.toMatch(/var\.|@@secret/);
      expect(Object.keys(s.task_spec.container_spec.env ?? {})).not.toContain("DATABASE_URL");
    }
    const app = service("web-app").task_spec.container_spec;
    expect(app.secrets.map((x: any) => x.file_name)).toEqual(["cache_password", "db_password", "mq_password"]);
    expect(app.command).toEqual(["/bin/sh"]);
    expect(app.args.slice(0, 3)).toEqual(["-c", 'set -a; . /etc/webstack/swarm-env.sh; set +a; exec "$@"', "webstack-env"]);
    const script = Buffer.from(r.docker_config["config-web-app-etc-webstack-swarm-env-sh"].data, "base64").toString();
    expect(script).toMatch(/^DATABASE_URL='postgresql:\/\/app:'"\$\(cat \/run\/secrets\/db_password\)"'@shop-db-primary:5432,shop-db-replica-1:5432\/app\?target_session_attrs=read-write'$/m);
    // Redis's shell health check reads the password the same way.
    expect(service("cache").task_spec.container_spec.healthcheck.test[1]).toMatch(/^set -a; \. \/etc\/webstack\/swarm-env\.sh; set \+a; redis-cli/);
    expect(text).not.toContain("@@secret");
  });

  test("web replicas log where they ran; Celery workers share one node name made unique by the hostname", () => {
    expect(service("web-app").task_spec.container_spec.hostname).toBe("{{.Node.Hostname}}-web-app-{{.Task.Slot}}");
    expect(service("worker").task_spec.container_spec.args).toContain("--hostname=worker@%h");
  });
});

describe("what the swarm target refuses", () => {
  test("release steps (a one-shot container) are named, not silently dropped", () => {
    expect(() => Testing.synth(shop({ target: { kind: "swarm", hosts } }, ["python manage.py migrate"]))).toThrow(/\[shop\/web\] invalid props:\n {2}- release: .* does not emit yet/);
  });

  test("a load balancer bound to one address", () => {
    const stack = new WebStack(Testing.app(), "s", { target: { kind: "swarm", hosts } });
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, processes: 2, threads: 2 });
    new LoadBalancer(stack, "lb", { defaultTarget: web, bindAddress: "127.0.0.1" });
    expect(() => Testing.synth(stack)).toThrow(/\[s\/lb\] invalid props:\n {2}- bindAddress: '127\.0\.0\.1' cannot be kept on a swarm/);
  });
});

describe("swarm services from the plan", () => {
  test("a secret in a word is read from its file, the rest quoted", () => {
    expect(shellWordReadingSecrets("a'b@@secret:x_y@@c")).toBe(`'a'\\''b'"$(cat /run/secrets/x_y)"'c'`);
    expect(shellWordReadingSecrets("")).toBe("''");
  });

  test("replicas that differ are refused", () => {
    const base = shop().cluster().plan.containers.filter((c) => c.placement!.service === "web-app");
    expect(swarmServices(base)).toHaveLength(1);
    const changed = [base[0], { ...base[1], memoryMiB: base[1].memoryMiB + 1 }];
    expect(() => swarmServices(changed)).toThrow("internal: web-2-app differs from web-1-app, but both are replicas of the swarm service web-app");
  });

  test("a container without secrets keeps its command and environment", () => {
    const nginx = shop().cluster().plan.containers.find((c) => c.key === "web-1-nginx")!;
    const env = swarmEnvironment(nginx);
    expect(env).toEqual({ plain: {}, command: nginx.command, secrets: [], healthcheck: nginx.healthcheck });
  });
});
