/** Failover with a pooler: PgBouncer reaches the leader through the router, a TCP HAProxy asking Patroni who leads. */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Testing } from "cdktf";
import { Database, LoadBalancer, WebStack, WebTier } from "../lib";

const IMAGE = "webstack-example-app:0.1";
const WSGI = "webstack_example.wsgi:application";

function site(db: object = {}, failover: object | null = {}): WebStack {
  const stack = new WebStack(Testing.app(), "pf", {});
  const database = new Database(stack, "db", { replicas: 2, synchronousReplicas: 1, maxConnections: 100, memoryMiB: 2048, pooler: {}, ...(failover ? { failover } : {}), ...db });
  const tier = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database, nodes: 2, processes: 4 });
  new LoadBalancer(stack, "lb", { defaultTarget: tier });
  return stack;
}

const containers = (stack: WebStack) => stack.cluster().plan.containers;
const byKey = (stack: WebStack, key: string) => containers(stack).find((c) => c.key === key);
const fileOf = (stack: WebStack, key: string, p: string) => byKey(stack, key)!.files.find((f) => f.path === p)!.content;
const findings = (stack: WebStack, rule: string) => stack.cluster().findings.filter((f) => f.ruleId === rule);

describe("failover with a pooler", () => {
  test("is accepted; PgBouncer's databases name the router, whose write port checks /primary and read port /replica", () => {
    const stack = site();
    const router = byKey(stack, "db-pooler-router")!;
    expect(router).toMatchObject({ role: "pg-router", image: "haproxy:2.6", memoryMiB: 64, publishes: [] });
    // HAProxy 2.6 refused 160 descriptors for maxconn 48 on the Docker engine (it wanted 213): 2 x maxconn + 1024.
    expect(router.ulimits).toEqual([{ name: "nofile", soft: 1224, hard: 1224 }]);
    expect(router.dependsOn).toEqual(["db-primary", "db-replica-1", "db-replica-2"]);
    const ini = fileOf(stack, "db-pooler", "/etc/pgbouncer/pgbouncer.ini");
    expect(ini).toContain(`app = host=${router.address} port=5432 dbname=app`);
    expect(ini).toContain(`app_ro = host=${router.address} port=5433 dbname=app`);
    expect(ini).toContain("server_login_retry = 1");
    expect(byKey(stack, "db-pooler")!.dependsOn).toEqual(["db-pooler-router"]);
    const cfg = fileOf(stack, "db-pooler-router", "/usr/local/etc/haproxy/haproxy.cfg");
    const members = containers(stack).filter((c) => c.role === "postgres-patroni");
    expect(members).toHaveLength(3);
    const write = cfg.slice(cfg.indexOf("listen pg_write"), cfg.indexOf("listen pg_read"));
    const read = cfg.slice(cfg.indexOf("listen pg_read"));
    expect(write).toContain("option httpchk GET /primary");
    expect(write).toContain("balance first");
    expect(read).toContain("option httpchk GET /replica");
    for (const m of members) {
      expect(write).toContain(`server ${m.key} ${m.address}:5432 maxconn 25`);
      expect(read).toContain(`server ${m.key} ${m.address}:5432 maxconn 25`);
    }
    expect(cfg).toContain("http-check expect status 200");
    // ttl 30, loop_wait 10: checks every 2 s, down after 3 failures (at most 12 s, under ttl / 2), up after 2.
    expect(cfg).toContain("default-server inter 2000ms fastinter 2000ms downinter 2000ms fall 3 rise 2 check port 8008 on-marked-down shutdown-sessions");
    expect(cfg).toContain("timeout server 3600000ms");
    expect(cfg).toMatch(/global\n {2}maxconn 100\n/);
  });

  test("the check interval follows ttl and loop_wait", () => {
    const cfg = (f: object) => fileOf(site({}, f), "db-pooler-router", "/usr/local/etc/haproxy/haproxy.cfg");
    expect(cfg({ ttl: 20, loopWait: 5, retryTimeout: 5 })).toContain("inter 1000ms");
    expect(cfg({ ttl: 20, loopWait: 10, retryTimeout: 5 })).toContain("inter 1600ms");
  });

  test("without failover there is no router and PgBouncer names the primary and the first replica", () => {
    const stack = site({}, null);
    expect(byKey(stack, "db-pooler-router")).toBeUndefined();
    const ini = fileOf(stack, "db-pooler", "/etc/pgbouncer/pgbouncer.ini");
    expect(ini).toContain(`app = host=${byKey(stack, "db-primary")!.address} port=5432`);
    expect(ini).toContain(`app_ro = host=${byKey(stack, "db-replica-1")!.address} port=5432`);
    expect(ini).not.toContain("server_login_retry");
    expect(findings(stack, "WS-PG-ROUTER-MEMORY")).toEqual([]);
  });

  test("every member counts both pools and Patroni's connections; the router's memory counts its maxconn", () => {
    const stack = site({ pooler: { defaultPoolSize: 30, reservePoolSize: 5 } });
    const db = findings(stack, "WS-DB-CONNECTIONS");
    expect(db).toHaveLength(1);
    // 35 writes + 35 reads + 3 Patroni (held, transient, health check)
    expect(db[0]).toMatchObject({ used: 73, limit: 97, status: "pass" });
    const [mem] = findings(stack, "WS-PG-ROUTER-MEMORY");
    // maxconn 2 x (35 + 35) = 140: 32 MiB + 140 x 34 KiB = 36.6 MiB
    expect(mem).toMatchObject({ used: 37, limit: 64, status: "pass" });
    expect(fileOf(stack, "db-pooler-router", "/usr/local/etc/haproxy/haproxy.cfg")).toMatch(/global\n {2}maxconn 140\n/);
  });

  test("budgets refuse pools the members or the router cannot hold", () => {
    expect(() => site({ pooler: { defaultPoolSize: 45, reservePoolSize: 5 } }).cluster()).toThrow(/WS-DB-CONNECTIONS FAILED[\s\S]*103 > 97/);
    expect(() => site({ pooler: { defaultPoolSize: 40, reservePoolSize: 5, routerMemoryMiB: 32 } }).cluster()).toThrow(
      /WS-PG-ROUTER-MEMORY FAILED[\s\S]*raise pooler.routerMemoryMiB of pf\/db to at least 38/,
    );
  });

  test("haproxy -c accepts the rendered router configuration", () => {
    let haproxy = "";
    try {
      haproxy = execFileSync("sh", ["-c", "command -v haproxy"]).toString().trim();
    } catch {
      return; // checked by the daemon suite where HAProxy is installed
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-router-"));
    const cfgPath = path.join(dir, "haproxy.cfg");
    fs.writeFileSync(cfgPath, fileOf(site(), "db-pooler-router", "/usr/local/etc/haproxy/haproxy.cfg"));
    expect(execFileSync(haproxy, ["-c", "-f", cfgPath], { stdio: "pipe" }).toString()).toMatch(/valid/);
    fs.rmSync(dir, { recursive: true });
  });
});
