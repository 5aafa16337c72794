import { Testing } from "cdktf";
import { Cache, Database, LoadBalancer, Monitoring, PropsError, Queue, WebStack, WebTier, WorkerTier, type WebStackProps } from "../lib";
import { planCluster } from "../lib/core/plan";
import { IMAGE, WSGI } from "./helpers";

const threeHosts = {
  kind: "swarm" as const,
  hosts: [
    { name: "node-1", memoryMiB: 8192, cpus: 4, roles: ["manager" as const, "edge" as const, "data" as const, "app" as const] },
    { name: "node-2", memoryMiB: 8192, cpus: 4, roles: ["manager" as const, "data" as const, "app" as const] },
    { name: "node-3", memoryMiB: 8192, cpus: 4, roles: ["manager" as const, "data" as const, "app" as const] },
  ],
};

function shop(props: WebStackProps = { target: threeHosts }) {
  const stack = new WebStack(Testing.app(), "shop", props);
  const db = new Database(stack, "db", { replicas: 2, memoryMiB: 1024, maxConnections: 100 });
  const cache = new Cache(stack, "cache");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 3, processes: 2, threads: 2, database: db, cache, queue: mq });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", nodes: 2, concurrency: 2, beat: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

const planOf = (stack: WebStack) => planCluster(stack.topology());
const byKey = (stack: WebStack) => new Map(planOf(stack).containers.map((c) => [c.key, c]));

describe("target props", () => {
  const errorOf = (target: unknown) => {
    try {
      new WebStack(Testing.app(), "s", { target } as WebStackProps);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };

  test("two hosts of one name, a swarm without a manager, an unknown role and a webstack. label are refused by field", () => {
    const host = { name: "a", memoryMiB: 1024, cpus: 1, roles: ["manager"] };
    expect(errorOf({ kind: "swarm", hosts: [host, host] })).toContain("target.hosts.1.name: 'a' names two hosts");
    expect(errorOf({ kind: "swarm", hosts: [{ name: "a", memoryMiB: 1024, cpus: 1 }] })).toContain("target.hosts: no host has the role 'manager'");
    expect(errorOf({ kind: "swarm", hosts: [{ ...host, roles: ["db"] }] })).toMatch(/target\.hosts\.0\.roles\.0: .*"manager"\|"edge"\|"data"\|"app"/);
    expect(errorOf({ kind: "swarm", hosts: [{ ...host, labels: { "webstack.host": "b" } }] })).toContain("target.hosts.0.labels: the 'webstack.' labels are set from name and roles");
    expect(errorOf({ kind: "cluster" })).toContain("target.kind");
    expect(errorOf({ kind: "swarm", hosts: [host] })).toBe("no error");
  });

  test("a component whose role no host has is named with the role to add", () => {
    const stack = shop({ target: { kind: "swarm", hosts: [{ name: "only", memoryMiB: 8192, cpus: 2, roles: ["manager", "app", "edge"] }] } });
    expect(() => planOf(stack)).toThrow(/\[shop\/db\] invalid props:\n  - target\.hosts: no host has the role 'data', and shop\/db needs one to run db-primary; add 'data' to the roles of a host \(roles: only \[manager, app, edge\]\)/);
  });
});

describe("placement in the plan", () => {
  test("one engine: no placement, no target, addresses from the subnet", () => {
    const plan = planOf(shop({}));
    expect(plan.target).toBeUndefined();
    expect(plan.containers.every((c) => c.placement === undefined)).toBe(true);
    expect(plan.containers.find((c) => c.key === "db-primary")!.address).toBe("172.30.1.10");
  });

  const stack = shop();
  const plan = planOf(stack);
  const c = byKey(stack);

  test("stateless tiers are replicas of one service, spread over the app hosts, with room for a lost host's share", () => {
    expect([0, 1, 2].map((n) => c.get(`web-${n + 1}-app`)!.placement)).toEqual([0, 1, 2].map((replica) => ({
      service: "web-app", replica, role: "app", constraints: { "webstack.app": "true" }, maxReplicasPerNode: 2,
    })));
    expect(c.get("web-2-nginx")!.placement).toMatchObject({ service: "web-nginx", replica: 1 });
    expect(c.get("worker-2")!.placement).toMatchObject({ service: "worker", replica: 1, maxReplicasPerNode: 1 });
    expect(c.get("worker-beat")!.placement).toMatchObject({ service: "worker-beat", replica: 0 });
  });

  test("the members of the PostgreSQL cluster are pinned to three different data hosts", () => {
    const hosts = ["db-primary", "db-replica-1", "db-replica-2"].map((k) => c.get(k)!.placement!);
    expect(new Set(hosts.map((p) => p.host)).size).toBe(3);
    for (const p of hosts) expect(p.constraints).toEqual({ "webstack.host": p.host });
    expect(c.get("mq")!.placement!.host).toMatch(/^node-[123]$/);
  });

  test("the load balancer runs on edge hosts", () => {
    expect(c.get("lb")!.placement).toMatchObject({ service: "lb", role: "edge", constraints: { "webstack.edge": "true" } });
  });

  test("clients reach services by their DNS names; nodes share one static volume key", () => {
    expect(c.get("db-replica-1")!.address).toBe("shop-db-replica-1");
    expect(c.get("web-1-app")!.env.DATABASE_URL).toMatch(/@shop-db-primary:5432,shop-db-replica-1:5432,shop-db-replica-2:5432\/app\?target_session_attrs=read-write$/);
    expect(c.get("web-2-app")!.mounts).toEqual([{ volume: "web-static", path: expect.any(String), readOnly: false }]);
    expect(plan.volumes.filter((v) => v.constructPath === "shop/web").map((v) => v.key)).toEqual(["web-static"]);
    const nginx = c.get("web-3-nginx")!.files[0].content;
    expect(nginx).toContain("server shop-web-app:8000;");
    // Replicas of one service render the same files.
    expect(c.get("web-1-nginx")!.files).toEqual(c.get("web-3-nginx")!.files);
    expect(c.get("web-1-app")!.files).toEqual(c.get("web-3-app")!.files);
  });

  test("HAProxy finds the nginx replicas through Docker's DNS, one server slot per replica the app hosts may carry", () => {
    const cfg = c.get("lb")!.files.find((f) => f.path.endsWith("haproxy.cfg"))!.content;
    expect(cfg).toMatch(/^resolvers docker\n {4}nameserver dns 127\.0\.0\.11:53$/m);
    expect(cfg).toMatch(/^ {4}server-template web- 6 shop-web-nginx:80 maxconn 4 resolvers docker init-addr none$/m);
    expect(cfg).not.toMatch(/^ {4}server /m);
  });
});

describe("spread", () => {
  test("a spread service keeps a host for every replica when one host is lost", () => {
    const { maxPerHost } = require("../lib/core/placement");
    expect([maxPerHost(3, 3), maxPerHost(2, 3), maxPerHost(4, 3), maxPerHost(2, 1), maxPerHost(1, 2)]).toEqual([2, 1, 2, 2, 1]);
  });
});

describe("what a swarm target does not run yet", () => {
  const refusal = (add: (stack: WebStack) => void) => {
    const stack = new WebStack(Testing.app(), "shop", { target: threeHosts });
    add(stack);
    try {
      stack.cluster();
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      return (e as Error).message;
    }
    return "no error";
  };
  const site = (stack: WebStack, db: Database) => {
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 3, processes: 2, threads: 2, database: db });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
  };

  test("Monitoring is refused by name, before any rule reads it", () => {
    const message = refusal((stack) => {
      site(stack, new Database(stack, "db", { replicas: 1, memoryMiB: 1024, maxConnections: 100 }));
      new Monitoring(stack, "monitoring", {});
    });
    expect(message).toContain("[shop/monitoring]");
    expect(message).toContain("Monitoring is not built for a swarm target yet");
  });

  test("automatic failover with a pooler is refused on its database (the router reads the members' addresses once); without one it is planned", () => {
    const pooled = refusal((stack) => site(stack, new Database(stack, "db", { replicas: 2, memoryMiB: 2048, maxConnections: 100, failover: {}, pooler: {} })));
    expect(pooled).toContain("[shop/db]");
    expect(pooled).toContain("pooler: not built with failover on a swarm target yet");
    expect(refusal((stack) => site(stack, new Database(stack, "db", { replicas: 2, memoryMiB: 2048, maxConnections: 100, failover: {} })))).toBe("no error");
  });
});
