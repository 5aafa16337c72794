/**
 * `cdktf-webstack top` without an engine: the model's figures it prints are the budget rules' own,
 * the daemons' answers (captured from real daemons, test/fixtures/top) are read right, and the
 * comparison flags what is above the model. The live side runs in test/e2e/invenio.test.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Testing } from "cdktf";
import { buildInvenioStack } from "../examples/invenio/stack";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { compareLive, type LiveReadings } from "../lib/core/top/compare";
import { httpBody, parseDockerStats, parseHaproxyStats, parsePgActivity, parseRabbitConnections, parseRedisClients, parseSizeMiB } from "../lib/core/top/parse";
import { topPlan } from "../lib/core/top/plan";
import { renderTop, renderTopJson } from "../lib/core/top/render";

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "fixtures/top", name), "utf8");

describe("the daemons' answers", () => {
  test("HAProxy's stats CSV (a chunked HTTP response of haproxy 2.6): one row per server with its sessions and maxconn", () => {
    const raw = fixture("haproxy-stats.http");
    expect(raw).toMatch(/transfer-encoding: chunked/);
    const stats = parseHaproxyStats(raw);
    expect(stats.map((s) => `${s.backend}/${s.server}`)).toEqual(["app/web-1", "app/web-2"]);
    // The fixture's config: `server web-1 ... maxconn 16`, no traffic yet.
    expect(stats[0]).toEqual({ backend: "app", server: "web-1", scur: 0, smax: 0, slim: 16, qcur: 0, status: "no check" });
    expect(() => parseHaproxyStats(raw.replace("HTTP/1.1 200 OK", "HTTP/1.1 401 Unauthorized"))).toThrow("answered 401");
  });

  test("a chunked body is put back together across chunks", () => {
    expect(httpBody("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab,c\r\n3\r\nd\ne\r\n0\r\n\r\n")).toEqual({ status: 200, body: "ab,cd\ne" });
    expect(httpBody("HTTP/1.0 200 OK\r\n\r\nplain")).toEqual({ status: 200, body: "plain" });
  });

  test("Redis CLIENT LIST (redis 7.0): clients by address, without the redis-cli that asked", () => {
    expect(parseRedisClients(fixture("redis-client-list.txt"))).toEqual({ "127.0.0.1": 1 });
    const two = fixture("redis-client-list.txt").replace("addr=127.0.0.1:60352", "addr=172.31.2.4:41000");
    expect(parseRedisClients(`${two}${two}`)).toEqual({ "172.31.2.4": 2 });
  });

  test("pg_stat_activity rows, rabbitmqctl peers and docker stats' memory column", () => {
    expect(parsePgActivity("\t2\t0\nweb\t11\t6\nexporter\t1\t1\n")).toEqual({ open: { "": 2, web: 11, exporter: 1 }, active: { "": 0, web: 6, exporter: 1 } });
    expect(() => parsePgActivity("psql: error: connection refused")).toThrow("unexpected row");
    expect(parseRabbitConnections("172.31.2.4\n172.31.2.4\n::ffff:172.31.4.1\n")).toEqual({ "172.31.2.4": 2, "172.31.4.1": 1 });
    expect(() => parseRabbitConnections("Error: unable to perform an operation on node")).toThrow("unexpected line");
    const stats = parseDockerStats(fixture("docker-stats.txt"));
    expect(stats["ha-pooled-site-web-2-app"]).toEqual({ usedMiB: 44.85, limitMiB: 576 });
    expect(parseSizeMiB("2.062GiB")).toBeCloseTo(2111.5, 1);
    expect(parseSizeMiB("512KiB")).toBe(0.5);
  });
});

describe("the model's figures are the budget rules'", () => {
  const cluster = buildInvenioStack(Testing.app()).cluster();
  const plan = topPlan(cluster.topology, cluster.plan);
  const finding = (rule: string, subject: string) => cluster.findings.find((f) => f.ruleId === rule && f.subject === subject)!;

  test("each database server: the tiers' shares are WS-DB-CONNECTIONS' lines, their sum its used, the limit its usable slots", () => {
    const f = finding("WS-DB-CONNECTIONS", "db client connections");
    expect(plan.databases.map((d) => d.key)).toEqual(["db-primary", "db-replica-1"]);
    for (const db of plan.databases) {
      expect(db.limit).toBe(f.limit);
      expect(db.shares.reduce((n, s) => n + s.count, 0)).toBe(f.used);
      for (const s of db.shares) expect(f.lines).toContain(`${s.source}: ${s.formula} = ${s.count}`);
    }
    // Monitored: each tier's line carries the application_name its processes connect with.
    const web = plan.databases[0].shares.find((s) => s.source === "invenio/web")!;
    expect(web.key).toBe("web");
    expect(cluster.plan.containers.find((c) => c.key === "web-1-app")!.env.DATABASE_URL).toContain("application_name=web");
  });

  test("Redis and RabbitMQ: WS-REDIS-CLIENTS' and WS-RABBITMQ-CONNECTIONS' lines, keyed by the client tier's path", () => {
    const redis = finding("WS-REDIS-CLIENTS", "cache maxclients");
    expect(plan.redis[0]).toMatchObject({ key: "cache", limit: redis.limit });
    expect(plan.redis[0].shares.reduce((n, s) => n + s.count, 0)).toBe(redis.used);
    const mq = finding("WS-RABBITMQ-CONNECTIONS", "mq connection_max");
    expect(plan.rabbitmq[0]).toMatchObject({ key: "mq", limit: mq.limit });
    expect(plan.rabbitmq[0].shares.reduce((n, s) => n + s.count, 0)).toBe(mq.used);
    expect(plan.rabbitmq[0].shares.find((s) => s.source === "invenio/worker (beat)")!.key).toBe("invenio/worker");
  });

  test("HAProxy: every server of every backend with the maxconn its haproxy.cfg has", () => {
    const cfg = cluster.plan.containers.find((c) => c.key === "lb")!.files.find((f) => f.path.endsWith("haproxy.cfg"))!.content;
    const lb = plan.loadBalancers[0];
    expect(lb.servers.length).toBe((cfg.match(/^\s+server /gm) ?? []).length);
    for (const s of lb.servers) expect(cfg).toMatch(new RegExp(`backend ${s.backend}\\n[^]*?server ${s.server} \\S+ maxconn ${s.maxconn}\\b`));
  });

  test("every long-running container with its memory limit; the release (one-shot) is left out", () => {
    const services = cluster.plan.containers.filter((c) => !c.oneShot);
    expect(plan.containers.map((c) => [c.name, c.memoryMiB])).toEqual(services.map((c) => [c.name, c.memoryMiB]));
    // Beside each, the estimate of the rule that sized it.
    const app = finding("WS-APP-MEMORY", "web app container memory");
    expect(plan.containers.find((c) => c.key === "web-2-app")!.estimate).toEqual({ rule: "WS-APP-MEMORY", mib: app.used });
    expect(plan.containers.find((c) => c.key === "db-replica-1")!.estimate).toEqual({ rule: "WS-DB-MEMORY", mib: finding("WS-DB-MEMORY", "db memory").used });
    expect(plan.containers.find((c) => c.key === "web-1-nginx")!.estimate).toBeUndefined();
  });

  describe("beside live figures", () => {
    const address = (key: string) => cluster.plan.containers.find((c) => c.key === key)!.address;
    const webShare = plan.databases[0].shares.filter((s) => s.key === "web").reduce((n, s) => n + s.count, 0);
    const readings: LiveReadings = {
      engine: "Docker test",
      running: plan.containers.filter((c) => c.key !== "worker-2").map((c) => c.name),
      postgres: { "db-primary": { value: { open: { web: webShare + 1, exporter: 1, "": 3 }, active: { web: 6, exporter: 0, "": 1 } } }, "db-replica-1": { error: "db-replica-1 is not running" } },
      redis: { cache: { value: { [address("web-1-app")]: 3, [address("worker-1")]: 2, "127.0.0.1": 1, "10.9.9.9": 1 } } },
      rabbitmq: { mq: { value: { [address("worker-1")]: 6, [address("worker-beat")]: 1 } } },
      haproxy: { lb: { value: parseHaproxyStats(fixture("haproxy-stats.http")) } },
      memory: { value: { [plan.containers[0].name]: { usedMiB: 100.04, limitMiB: plan.containers[0].memoryMiB } } },
    };
    const report = compareLive(plan, readings);
    const section = (rule: string, container: string) => report.sections.find((s) => s.rule === rule && s.container === container)!;

    test("a tier above its share is OVER; names the model has no share for are listed with none", () => {
      const db = section("WS-DB-CONNECTIONS", "db-primary");
      expect(db.rows.find((r) => r.who === "web")).toMatchObject({ live: webShare + 1, active: 6, model: webShare, over: true });
      expect(db.rows.find((r) => r.who === "exporter")).toMatchObject({ live: 1, over: false });
      expect(db.rows.find((r) => r.who === "files")).toMatchObject({ live: 0 });
      expect(db.rows.find((r) => r.who === "(no application_name)")).toMatchObject({ live: 3, active: 1, model: null, over: false });
      expect(db.total).toMatchObject({ live: webShare + 5, limit: plan.databases[0].limit, over: false });
      expect(section("WS-DB-CONNECTIONS", "db-replica-1").error).toBe("db-replica-1 is not running");
    });

    test("Redis and RabbitMQ clients are counted for the tier whose container has the address", () => {
      const redis = section("WS-REDIS-CLIENTS", "cache");
      expect(redis.rows.find((r) => r.who === "invenio/web")!.live).toBe(3);
      expect(redis.rows.find((r) => r.who === "invenio/worker")!.live).toBe(2);
      expect(redis.rows.find((r) => r.who === "(inside the container)")!.live).toBe(1);
      expect(redis.rows.find((r) => r.who === "10.9.9.9 (not in the model)")!.live).toBe(1);
      const mq = section("WS-RABBITMQ-CONNECTIONS", "mq");
      // The beat container belongs to the worker tier: its connection counts in the tier's share with the beat's line.
      expect(mq.rows.find((r) => r.who === "invenio/worker")).toMatchObject({ live: 7, model: plan.rabbitmq[0].shares.filter((s) => s.key === "invenio/worker").reduce((n, s) => n + s.count, 0) });
    });

    test("HAProxy servers the stats do not list say so; servers the model does not have are listed", () => {
      const lb = section("WS-LB-SERVER-MAXCONN", "lb");
      // The fixture is another config's (backend app, servers web-1 and web-2 at maxconn 16).
      const appMaxconn = plan.loadBalancers[0].servers.find((s) => s.backend === "app" && s.server === "web-1")!.maxconn;
      expect(lb.rows.find((r) => r.who === "app/web-1")).toMatchObject({ live: 0, model: appMaxconn });
      expect(lb.rows.find((r) => r.who === "files/files-1")).toMatchObject({ live: null, note: "not in HAProxy's stats" });
    });

    test("memory: used against the limit; a stopped container is not running", () => {
      const mem = section("memoryMiB", "(every container)");
      expect(mem.rows[0]).toMatchObject({ who: plan.containers[0].key, live: 100, model: plan.containers[0].memoryMiB, over: false });
      expect(mem.rows.find((r) => r.who === "worker-2")).toMatchObject({ live: null, note: "not running" });
    });

    test("the table shows each figure beside the model's and names what is above it; JSON holds the same report", () => {
      const text = renderTop(report);
      expect(text).toMatch(new RegExp(`\\n  web +${webShare + 1} +6 +${webShare} +OVER +invenio/web: `));
      // Only PostgreSQL tells active from idle: the other tables have no such column.
      expect(text).toMatch(/\n +live +active +model\n/);
      expect(text).toMatch(/\n +live +maxconn\n/);
      expect(text).toContain("could not read: db-replica-1 is not running");
      expect(text).toContain("above the model: db-primary web\n");
      expect(JSON.parse(renderTopJson([report]))).toEqual([JSON.parse(JSON.stringify(report))]);
    });
  });
});

test("an unmonitored stack says why its tiers' connections carry no application_name", () => {
  const cluster = buildSmallSiteStack(Testing.app()).cluster();
  const plan = topPlan(cluster.topology, cluster.plan);
  expect(plan.monitored).toBe(false);
  const db = plan.databases[0];
  const report = compareLive(plan, { engine: "e", running: [], postgres: { [db.key]: { value: { open: { "": 4 }, active: {} } } }, redis: {}, rabbitmq: {}, haproxy: {}, memory: { value: {} } });
  const section = report.sections.find((s) => s.container === db.key)!;
  expect(section.note).toMatch(/application_name is set only in monitored stacks/);
  expect(section.rows.find((r) => r.who === "(no application_name)")!.live).toBe(4);
});

test("no engine there: exit 1 with one line naming the engine, no stack trace", () => {
  const socket = path.join(require("node:os").tmpdir(), `webstack-no-engine-${process.pid}.sock`);
  const r = require("node:child_process").spawnSync("npx", ["tsx", "bin/cdktf-webstack.ts", "top", "examples/small-site/main.ts"], {
    cwd: path.join(__dirname, ".."),
    encoding: "utf8",
    env: { ...process.env, DOCKER_HOST: `unix://${socket}` },
    timeout: 60_000,
  });
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(new RegExp(`^cdktf-webstack: cannot reach the Docker engine at unix://${socket}: .*\\n$`));
}, 60_000);
