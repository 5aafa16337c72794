import { Testing } from "cdktf";
import { Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier, type WebStackProps } from "../lib";
import { planCluster } from "../lib/core/plan";
import { swarmTarget } from "../lib/core/placement";
import { hostLoads, moreReplicas, slotMemoryMiB } from "../lib/core/swarm-capacity";
import { budgetFindings } from "../lib/testing";
import { IMAGE, WSGI } from "./helpers";

type Host = { name: string; memoryMiB: number; cpus: number; roles?: ("manager" | "edge" | "data" | "app")[] };
const host = (name: string, memoryMiB = 8192, roles: Host["roles"] = ["manager", "edge", "data", "app"]): Host => ({ name, memoryMiB, cpus: 2, roles });

function shop(hosts: Host[] | undefined, replicas = 1, nodes = 3) {
  const props: WebStackProps = hosts ? { target: { kind: "swarm", hosts } } : {};
  const stack = new WebStack(Testing.app(), "shop", props);
  const db = new Database(stack, "db", { replicas, memoryMiB: 2048, maxConnections: 100 });
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes, processes: 2, threads: 2, database: db });
  const mq = new Queue(stack, "mq");
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", nodes: 2, concurrency: 2, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}
const findings = (stack: WebStack, id: string) => budgetFindings(stack).filter((f) => f.ruleId === id);

describe("on one engine", () => {
  test("the swarm rules do not run, and the stack's rules are the core pack's", () => {
    const stack = shop(undefined);
    expect(stack.rules.some((r) => r.id.startsWith("WS-SWARM-"))).toBe(false);
    expect(budgetFindings(stack).some((f) => f.ruleId.startsWith("WS-SWARM-"))).toBe(false);
    expect(findings(stack, "WS-DB-CONNECTIONS")[0].lines.some((l) => l.includes("rolling update"))).toBe(false);
  });
});

describe("WS-SWARM-HOST-MEMORY", () => {
  test("three hosts of 8 GiB carry the shop, each line a service's share", () => {
    const [f] = findings(shop([host("a"), host("b"), host("c")]), "WS-SWARM-HOST-MEMORY");
    expect(f.status).toBe("pass");
    expect(f.subject).toBe("host a memory reservations");
    expect(f.lines).toContain("web-app: at most 2 replicas here = 1.13 GiB");
    expect(f.lines[f.lines.length - 1]).toMatch(/^reserved = .* against a memoryMiB 8 GiB$/);
  });

  test("a host too small for its share fails, naming the host and what to change", () => {
    const small = findings(shop([host("a"), host("b"), host("c", 1024)]), "WS-SWARM-HOST-MEMORY").find((f) => f.subject.startsWith("host c"))!;
    expect(small.status).toBe("fail");
    expect(small.used).toBeGreaterThan(1024);
    expect(small.fix).toBe("raise memoryMiB of host c, add a host with its roles (manager, edge, data, app), or lower the nodes or memory of the tiers it carries");
  });

  test("the memory the rule counts per slot is what the plan gives each container", () => {
    const stack = shop([host("a"), host("b"), host("c")]);
    const t = stack.topology();
    for (const c of planCluster(t).containers) {
      const component = t.components.find((x) => x.path === c.constructPath)!;
      expect([c.key, slotMemoryMiB(component, c.key)]).toEqual([c.key, c.memoryMiB]);
    }
  });

  test("the capacity answer per host: reserved, free, and how many more replicas of each spread service fit", () => {
    const t = shop([host("a"), host("b"), host("c")]).topology();
    const target = swarmTarget(t)!;
    const loads = hostLoads(t, target);
    const more = moreReplicas(t, target);
    expect(more.map((m) => m.host)).toEqual(["a", "b", "c"]);
    expect(more[0].freeMiB).toBe(8192 - loads[0].reservedMiB);
    expect(more[0].more["web-app"]).toBe(Math.floor(more[0].freeMiB / 576));
  });
});

describe("WS-SWARM-PG-SPREAD", () => {
  test("a primary and a standby on two data hosts pass", () => {
    const [f] = findings(shop([host("a"), host("b"), host("c", 8192, ["app"])], 1), "WS-SWARM-PG-SPREAD");
    expect([f.status, f.used, f.limit]).toEqual(["pass", 1, 1]);
  });

  test("a primary and two standbys on two data hosts fail: two members share a host", () => {
    const [f] = findings(shop([host("a"), host("b"), host("c", 8192, ["app"])], 2), "WS-SWARM-PG-SPREAD");
    expect([f.status, f.used]).toEqual(["fail", 2]);
    expect(f.lines[f.lines.length - 1]).toBe("3 members on 2 data hosts");
    expect(f.fix).toBe("give 3 hosts the 'data' role, or lower replicas of shop/db to 1");
  });
});

describe("WS-SWARM-QUORUM", () => {
  const quorum = (managers: number) => {
    const hosts = ["a", "b", "c", "d", "e", "f"].map((n, i) => host(n, 8192, i < managers ? ["manager", "edge", "data", "app"] : ["edge", "data", "app"]));
    return findings(shop(hosts), "WS-SWARM-QUORUM")[0];
  };
  test("1, 3 and 5 managers pass; 2, 4 and 6 fail", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => quorum(n).status)).toEqual(["pass", "fail", "pass", "fail", "pass", "fail"]);
    expect(quorum(3).lines).toContain("majority = 2; managers that may be lost = 1");
    expect(quorum(2).lines).toContain("majority = 2; managers that may be lost = 0");
    expect(quorum(4).fix).toBe("give 3 or 5 hosts the 'manager' role");
  });
});

describe("the connection budget on a swarm", () => {
  test("counts the replica a start-first rolling update starts beside the others", () => {
    const engine = findings(shop(undefined), "WS-DB-CONNECTIONS")[0];
    const swarm = findings(shop([host("a"), host("b"), host("c")]), "WS-DB-CONNECTIONS")[0];
    expect(swarm.lines).toContain("shop/web (rolling update): 1 replica started first x 2 processes x 2 (the smaller of 2 threads and 5 pool + 0 overflow) = 4");
    expect(swarm.used - engine.used).toBe(4 + 2);
  });
});

describe("capacity report on a swarm", () => {
  test("capacity.md and capacity.json answer per host; one engine's report has no hosts", () => {
    const { capacityReport, renderCapacityMarkdown } = require("../lib/core/report");
    const swarm = shop([host("a"), host("b"), host("c")]).cluster();
    const report = capacityReport(swarm.topology, swarm.plan, swarm.rules, swarm.findings, swarm.answer);
    expect(report.hosts.map((h: any) => [h.host, h.memoryMiB, h.reservedMiB + h.freeMiB])).toEqual([["a", 8192, 8192], ["b", 8192, 8192], ["c", 8192, 8192]]);
    expect(report.hosts[0].services).toContain("web-app (up to 2)");
    expect(renderCapacityMarkdown(report)).toMatch(/^\| a \| manager, edge, data, app \| 8192 \| \d+ \| \d+ \| .*web-app \(up to 2\).* \| .*web-app \+\d+.* \|$/m);
    const engine = shop(undefined).cluster();
    expect(capacityReport(engine.topology, engine.plan, engine.rules, engine.findings, engine.answer)).not.toHaveProperty("hosts");
  });
});
