/** The automatic failover mode of Database: props, layout, rendered files and the rules that count it. */
import { Testing } from "cdktf";
import { Database, LoadBalancer, Monitoring, PropsError, WebStack, WebTier } from "../lib";
import { capacityAnswer } from "../lib/core/capacity";
import { PATRONI_SETS } from "../lib/core/schemas/database";

const IMAGE = "webstack-example-app:0.1";
const WSGI = "webstack_example.wsgi:application";

function site(db: object, web: object = {}): WebStack {
  const stack = new WebStack(Testing.app(), "fo", {});
  const database = new Database(stack, "db", { replicas: 2, synchronousReplicas: 1, maxConnections: 100, memoryMiB: 2048, failover: {}, ...db });
  const tier = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database, nodes: 2, processes: 4, ...web });
  new LoadBalancer(stack, "lb", { defaultTarget: tier });
  return stack;
}

const containers = (stack: WebStack) => stack.cluster().plan.containers;
const file = (stack: WebStack, key: string, path: string) => {
  const c = containers(stack).find((x) => x.key === key)!;
  return c.files.find((f) => f.path === path)!.content;
};
const finding = (stack: WebStack, rule: string) => stack.cluster().findings.find((f) => f.ruleId === rule)!;

describe("props", () => {
  const propsError = (db: object) => {
    try {
      site(db);
    } catch (e) {
      expect(e).toBeInstanceOf(PropsError);
      return (e as Error).message;
    }
    throw new Error("expected a PropsError");
  };
  test("failover needs a replica, no standbyOverrides, and Patroni's timing rule", () => {
    expect(propsError({ replicas: 0, synchronousReplicas: 0 })).toMatch(/\[fo\/db\][\s\S]*failover: needs replicas: 1 or more/);
    expect(propsError({ standbyOverrides: { maxConnections: 300 } })).toMatch(/standbyOverrides: cannot be combined with failover/);
    expect(propsError({ failover: { ttl: 20, loopWait: 10, retryTimeout: 10 } })).toMatch(/failover.ttl: must be at least loopWait \+ 2 x retryTimeout = 30/);
    expect(propsError({ maxReplicationSlots: 3 })).toMatch(/maxReplicationSlots: must be at least 4 with failover/);
  });

  test("parameters Patroni sets itself are refused with failover, and the list covers what patroni.yml sets beyond postgresql.conf", () => {
    expect(propsError({ parameters: { wal_log_hints: "off" } })).toMatch(/parameters.wal_log_hints: is set by Patroni with failover/);
    const stack = site({});
    const yml = file(stack, "db-primary", containers(stack).find((c) => c.key === "db-primary")!.files.find((f) => f.path.endsWith("patroni.yml"))!.path);
    const conf = file(stack, "db-primary", "/etc/postgresql/postgresql.conf");
    const set = [...yml.matchAll(/^ {4,8}([a-z_]+): (?!$)/gm)].map((m) => m[1]);
    const parameters = set.filter((k) => /^(wal_|hot_|max_|hba_file|unix_socket)/.test(k));
    const beyondConf = parameters.filter((k) => !new RegExp(`^${k} = `, "m").test(conf));
    expect(beyondConf).toEqual(expect.arrayContaining(["wal_log_hints"]));
    for (const k of beyondConf) expect(PATRONI_SETS).toContain(k);
  });
});

describe("the manual mode is unchanged", () => {
  test("no etcd, no Patroni, no new secret without failover", () => {
    const stack = site({ failover: undefined });
    const keys = containers(stack).map((c) => c.key);
    expect(keys.filter((k) => k.startsWith("db-"))).toEqual(["db-primary", "db-replica-1", "db-replica-2"]);
    expect(stack.cluster().plan.secrets.map((s) => s.name)).not.toContain("db_rewind_password");
  });
});

describe("rendered files", () => {
  const stack = site({});
  const cs = containers(stack);
  test("three etcd members at the end of the database's block, three Patroni members", () => {
    const db = cs.filter((c) => c.key.startsWith("db-"));
    expect(db.map((c) => `${c.key} ${c.role} ${c.address}`)).toEqual([
      "db-etcd-1 etcd 172.30.1.253",
      "db-etcd-2 etcd 172.30.1.252",
      "db-etcd-3 etcd 172.30.1.251",
      "db-primary postgres-patroni 172.30.1.10",
      "db-replica-1 postgres-patroni 172.30.1.11",
      "db-replica-2 postgres-patroni 172.30.1.12",
    ]);
    // No host port anywhere but the load balancer's.
    expect(db.every((c) => c.publishes.length === 0)).toBe(true);
  });
  test("patroni.yml: same cluster settings on every member, from the budgets; API on the member's address; no password", () => {
    const ymls = ["db-primary", "db-replica-1", "db-replica-2"].map((k) => file(stack, k, "/etc/patroni/patroni.yml"));
    const dcs = (y: string) => y.slice(y.indexOf("bootstrap:"), y.indexOf("postgresql:\n  listen"));
    expect(new Set(ymls.map(dcs)).size).toBe(1);
    const y = ymls[1];
    expect(y).toContain('  listen: "172.30.1.11:8008"');
    expect(y).toContain("        max_connections: 100\n");
    expect(y).toContain("    synchronous_mode: true\n    synchronous_mode_strict: false\n    synchronous_node_count: 1\n");
    expect(y).toContain("      use_pg_rewind: true\n");
    expect(y).toContain("      use_slots: true\n");
    expect(y).toContain('    - "172.30.1.253:2379"\n    - "172.30.1.252:2379"\n    - "172.30.1.251:2379"\n');
    for (const text of ymls) expect(text).not.toMatch(/password:/);
  });
  test("asynchronous replication renders synchronous_mode: false", () => {
    expect(file(site({ synchronousReplicas: 0 }), "db-primary", "/etc/patroni/patroni.yml")).toContain("    synchronous_mode: false\n");
  });
  test("passwords reach Patroni as sensitive variables in its environment, never in files", () => {
    const primary = cs.find((c) => c.key === "db-primary")!;
    expect(primary.env).toMatchObject({
      PATRONI_REPLICATION_PASSWORD: "@@secret:db_replication_password@@",
      PATRONI_REWIND_PASSWORD: "@@secret:db_rewind_password@@",
      PATRONI_RESTAPI_PASSWORD: "@@secret:db_patroni_api_password@@",
    });
    for (const c of cs) for (const f of c.files) expect(f.content).not.toContain("@@secret:");
  });
  test("the app's DATABASE_URL lists every member with target_session_attrs=read-write", () => {
    const app = cs.find((c) => c.key === "web-1-app")!;
    expect(app.env.DATABASE_URL).toBe(
      "postgresql://app:@@secret:db_password@@@172.30.1.10:5432,172.30.1.11:5432,172.30.1.12:5432/app?target_session_attrs=read-write" +
        "&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000",
    );
  });
  test("etcd: one cluster of the three members, on the stack network and loopback", () => {
    const conf = file(stack, "db-etcd-2", "/etc/etcd/etcd.yml");
    expect(conf).toContain('initial-cluster: "db-etcd-1=http://172.30.1.253:2380,db-etcd-2=http://172.30.1.252:2380,db-etcd-3=http://172.30.1.251:2380"');
    expect(conf).toContain('listen-client-urls: "http://172.30.1.252:2379,http://127.0.0.1:2379"');
    expect(conf).toContain("enable-grpc-gateway: true");
  });
  test("pg_hba.conf lets Patroni read a standby's own timeline over a replication connection from 127.0.0.1 only", () => {
    const hba = file(site({}), "db-replica-1", "/etc/postgresql/pg_hba.conf");
    expect(hba).toMatch(/^host +replication +replicator +127\.0\.0\.1\/32 +scram-sha-256$/m);
    expect(hba.match(/127\.0\.0\.1/g)).toHaveLength(1);
  });

  test("monitored: every member lets its own exporter in, and the first leader creates the exporter role", () => {
    const stack = site({});
    new Monitoring(stack, "monitoring", {});
    const byKey = new Map(containers(stack).map((c) => [c.key, c]));
    for (const key of ["db-primary", "db-replica-1", "db-replica-2"]) {
      const hba = file(stack, key, "/etc/postgresql/pg_hba.conf");
      for (const exporter of ["db-primary", "db-replica-1", "db-replica-2"]) {
        const address = byKey.get(`${exporter}-exporter`)!.address;
        expect(hba).toContain(`host    app             exporter        ${`${address}/32`.padEnd(23)} scram-sha-256`);
      }
      expect(file(stack, key, "/etc/postgresql/init.sql")).toMatch(/CREATE ROLE exporter WITH LOGIN .*CONNECTION LIMIT 2/);
      expect(Object.keys(byKey.get(key)!.env)).toContain("WEBSTACK_EXPORTER_PASSWORD");
    }
  });

  test("deterministic", () => {
    expect(JSON.stringify(containers(site({})))).toBe(JSON.stringify(cs));
  });
});

describe("rules", () => {
  test("WS-DB-CONNECTIONS counts Patroni's connections and the health check", () => {
    const f = finding(site({}), "WS-DB-CONNECTIONS");
    expect(f.lines).toContain("fo/db (patroni): 1 held (HA loop and REST API) + 1 while a member rejoins (pg_rewind, CHECKPOINT) + 1 health check (pg_isready) = 3");
    expect(f.used).toBe(2 * 4 * 2 + 3);
  });
  test("WS-DB-MEMORY counts Patroni's process", () => {
    const f = finding(site({}), "WS-DB-MEMORY");
    expect(f.lines[0]).toBe("Patroni 64 MiB +");
  });
  test("WS-DB-ETCD-QUORUM refuses an even etcd count and passes an odd one", () => {
    expect(finding(site({}), "WS-DB-ETCD-QUORUM")).toMatchObject({ status: "pass", used: 0, limit: 0 });
    expect(() => site({ failover: { etcdMembers: 2 } }).cluster()).toThrow(/WS-DB-ETCD-QUORUM FAILED[\s\S]*etcdMembers = 2: majority 2, survives 0 lost members[\s\S]*set failover.etcdMembers of fo\/db to 1 or 3/);
  });
  test("WS-ETCD-MEMORY: etcd's process and backend quota against its limit", () => {
    expect(finding(site({}), "WS-ETCD-MEMORY")).toMatchObject({ status: "pass", used: 128, limit: 256 });
  });
});

describe("capacity", () => {
  test("the max_connections a failover database needs never goes below Patroni's minimum (25)", () => {
    const answer = capacityAnswer(site({}, { nodes: 1, processes: 2, threads: 1 }).topology());
    // 2 app connections + Patroni's 3 + 3 reserved = 8, raised to 25.
    expect(answer.databases[0]).toMatchObject({ clients: 5, neededMaxConnections: 25 });
    expect(answer.headroom.find((h) => h.constructPath === "fo/web" && h.field === "nodes")).toMatchObject({ stoppedBy: "WS-DB-CONNECTIONS" });
  });
});
