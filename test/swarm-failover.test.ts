/**
 * Automatic failover (Patroni + etcd) on a swarm target: each Patroni member and each etcd member is a
 * service of one replica pinned to a data host of its own, the daemons listen on every address of the
 * task and advertise their service names, and a target without a data host per member is refused.
 */
import { Testing } from "cdktf";
import { Database, LoadBalancer, PropsError, WebStack, WebTier } from "../lib";
import { planCluster } from "../lib/core/plan";
import { slotMemoryMiB } from "../lib/core/swarm-capacity";
import { budgetFindings } from "../lib/testing";
import { IMAGE, WSGI } from "./helpers";

type Role = "manager" | "edge" | "data" | "app";
const host = (name: string, roles: Role[] = ["manager", "edge", "data", "app"]) => ({ name, memoryMiB: 8192, cpus: 2, roles });

function haShop(hosts = [host("n1"), host("n2"), host("n3")], db: { replicas?: number; etcdMembers?: number } = {}) {
  const stack = new WebStack(Testing.app(), "shop", { target: { kind: "swarm", hosts } });
  const database = new Database(stack, "db", {
    replicas: db.replicas ?? 2,
    synchronousReplicas: 1,
    memoryMiB: 1024,
    maxConnections: 60,
    failover: db.etcdMembers === undefined ? {} : { etcdMembers: db.etcdMembers },
  });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 3, processes: 2, threads: 2, database });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

const fileOf = (c: { files: readonly { path: string; content: string }[] }, suffix: string) => c.files.find((f) => f.path.endsWith(suffix))!.content;

describe("placement and addresses", () => {
  const stack = haShop();
  const plan = planCluster(stack.topology());
  const byKey = new Map(plan.containers.map((c) => [c.key, c]));
  const members = ["db-primary", "db-replica-1", "db-replica-2"].map((k) => byKey.get(k)!);
  const etcd = ["db-etcd-1", "db-etcd-2", "db-etcd-3"].map((k) => byKey.get(k)!);

  test("each Patroni member and each etcd member is its own service, pinned to a data host of its own", () => {
    for (const group of [members, etcd]) {
      expect(group.map((c) => c.placement!.service)).toEqual(group.map((c) => c.key));
      expect(new Set(group.map((c) => c.placement!.host)).size).toBe(3);
      for (const c of group) expect(c.placement!.constraints).toEqual({ "webstack.host": c.placement!.host });
    }
    expect(stack.cluster().plan.containers.filter((c) => c.role === "etcd")).toHaveLength(3);
  });

  test("etcd listens on every address of the task and advertises its service name; it runs without a health check", () => {
    const conf = fileOf(etcd[1], "etcd.yml");
    expect(conf).toContain('listen-client-urls: "http://0.0.0.0:2379"');
    expect(conf).toContain('listen-peer-urls: "http://0.0.0.0:2380"');
    expect(conf).toContain('advertise-client-urls: "http://shop-db-etcd-2:2379"');
    expect(conf).toContain('initial-advertise-peer-urls: "http://shop-db-etcd-2:2380"');
    expect(conf).toContain('initial-cluster: "db-etcd-1=http://shop-db-etcd-1:2380,db-etcd-2=http://shop-db-etcd-2:2380,db-etcd-3=http://shop-db-etcd-3:2380"');
    expect(etcd[1].healthcheck.test).toEqual(["NONE"]);
    expect(etcd[1].memoryMiB).toBe(slotMemoryMiB(stack.topology().components.find((c) => c.kind === "database")!, "db-etcd-2"));
  });

  test("Patroni's REST API listens on every address; its members and etcd are reached by service name; pg_hba admits the overlay subnet", () => {
    const yml = fileOf(members[2], "patroni.yml");
    expect(yml).toContain('  listen: "0.0.0.0:8008"');
    expect(yml).toContain('  connect_address: "shop-db-replica-2:8008"');
    expect(yml).toContain('  connect_address: "shop-db-replica-2:5432"');
    expect(yml).toMatch(/ {4}- "shop-db-etcd-1:2379"\n {4}- "shop-db-etcd-2:2379"\n {4}- "shop-db-etcd-3:2379"/);
    expect(fileOf(members[2], "pg_hba.conf")).toContain(plan.network.subnet);
    expect(members[2].healthcheck.test[0]).toBe("CMD-SHELL");
    expect(byKey.get("web-1-app")!.env.DATABASE_URL).toMatch(/@shop-db-primary:5432,shop-db-replica-1:5432,shop-db-replica-2:5432\/app\?target_session_attrs=read-write&keepalives=1/);
  });
});

describe("refused before any rule", () => {
  const refusal = (make: () => WebStack) => {
    try {
      make().cluster();
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      return (e as Error).message;
    }
    return "no error";
  };

  test("fewer data hosts than PostgreSQL members names replicas, the hosts and what to change", () => {
    const message = refusal(() => haShop([host("n1"), host("n2"), host("n3", ["manager", "app"])]));
    expect(message).toContain("[shop/db]");
    expect(message).toContain("replicas: failover on a swarm puts each of the 3 PostgreSQL members and each of the 3 etcd members on a data host of its own, and the target has 2 (n1, n2); give 3 hosts the 'data' role, or lower replicas to at most 1");
  });

  test("more etcd members than data hosts names failover.etcdMembers", () => {
    const message = refusal(() => haShop(undefined, { replicas: 1, etcdMembers: 5 }));
    expect(message).toContain("failover.etcdMembers: failover on a swarm puts each of the 2 PostgreSQL members and each of the 5 etcd members on a data host of its own, and the target has 3");
  });
});

describe("WS-SWARM-PG-SPREAD with failover", () => {
  const spread = (stack: WebStack) => budgetFindings(stack).filter((f) => f.ruleId === "WS-SWARM-PG-SPREAD");

  test("Patroni members and etcd members one per host pass, each group measured on its own", () => {
    const found = spread(haShop());
    expect(found.map((f) => [f.subject, f.status, f.used])).toEqual([
      ["db members per host", "pass", 1],
      ["db etcd members per host", "pass", 1],
    ]);
  });

  test("three etcd members on two data hosts fail: two share a host (the rule, should the refusal ever let it through)", () => {
    const [members, etcd] = spread(haShop([host("n1"), host("n2"), host("n3", ["manager", "app"])], { replicas: 1 }));
    expect([members.status, etcd.status, etcd.used]).toEqual(["pass", "fail", 2]);
    expect(etcd.lines[etcd.lines.length - 1]).toBe("3 etcd members on 2 data hosts");
    expect(etcd.fix).toBe("give 3 hosts the 'data' role, or lower failover.etcdMembers of shop/db to 1");
  });
});
