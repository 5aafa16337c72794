import * as path from "node:path";
import { Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier } from "../../lib";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, testWith } from "./harness";

const it = testWith(["redis-server", "redis-cli", "celery", "/usr/bin/python3", "unshare", "nsenter", "ip"]);
const APP_DIR = path.resolve(__dirname, "../../examples/app");
const CONF = "/usr/local/etc/redis/redis.conf";

describe("Redis 7.0 as the Celery broker (Queue engine: redis), as rendered", () => {
  it("redis obeys the rendered broker settings (noeviction, appendonly) and the rendered worker consumes from it", async () => {
    const cs = containersOf((scope) => {
      const stack = new WebStack(scope, "rq", { subnet: "127.77.0.0/16" });
      const db = new Database(stack, "db", { replicas: 0 });
      const mq = new Queue(stack, "mq", { engine: "redis" });
      const app = { image: "webstack-example-app:0.1", database: db, queue: mq };
      const web = new WebTier(stack, "web", { ...app, nodes: 1, processes: 2, wsgiModule: "webstack_example.wsgi:application" });
      new WorkerTier(stack, "worker", { ...app, nodes: 1, concurrency: 2, celeryApp: "webstack_example.tasks" });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    });
    const mq = container(cs, "mq");
    const worker = container(cs, "worker-1");
    const conf = fileIn(mq, CONF);
    // The broker settings a queue needs, as the renderer wrote them.
    expect(confValue(conf, "maxmemory-policy")).toBe("noeviction");
    expect(confValue(conf, "appendonly")).toBe("yes");
    const pw = secretValue("mq_password");
    const broker = new URL(worker.env.CELERY_BROKER_URL);
    expect({ scheme: broker.protocol, host: broker.hostname, port: broker.port, password: decodeURIComponent(broker.password) })
      .toEqual({ scheme: "redis:", host: mq.address, port: confValue(conf, "port"), password: pw });
    expect(worker.command).toContain("--app=webstack_example.tasks");

    const appEnv = { ...worker.env, PYTHONPATH: "/srv/app", HOME: "/tmp" };
    const box = new Sandbox("redis-broker", {
      files: [...mq.files, ...worker.files],
      copies: { [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example" },
      // The redis image's working directory and data volume.
      setup: "mkdir -p /data && chown redis:redis /data",
    });
    const cli = (args: string[]) => box.exec(["redis-cli", "--no-auth-warning", "-h", mq.address, "-p", broker.port, "-a", pw, ...args]);
    const get = async (name: string) => (await cli(["config", "get", name])).stdout.trim().split("\n");
    try {
      await box.start({ user: mq.user ?? "redis", argv: mq.command, env: mq.env });
      await box.waitFor("redis PONG", async () => (await cli(["ping"])).stdout.trim() === "PONG", 30_000);
      for (const name of ["maxmemory-policy", "appendonly", "appendfsync", "maxclients"]) {
        expect(await get(name)).toEqual([name, confValue(conf, name)]);
      }
      // appendonly is in effect, not only configured: the AOF directory exists in the rendered dir.
      expect((await cli(["info", "persistence"])).stdout).toMatch(/aof_enabled:1/);
      expect((await box.sh(`ls ${confValue(conf, "dir")}/appendonlydir`)).stdout).toMatch(/\.aof/);

      // A task queued before any worker runs waits in the broker (noeviction: nothing drops it).
      const send = await box.exec(["/usr/bin/python3", "-c",
        "from webstack_example.tasks import add; r = add.delay(20, 22); print(r.id)"], { user: "nobody", env: appEnv, timeoutMs: 30_000 });
      expect(send.code).toBe(0);
      const taskId = send.stdout.trim();
      expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
      const queue = worker.command.find((a) => a.startsWith("--queues="))!.split("=")[1];
      expect((await cli(["-n", broker.pathname.slice(1) || "0", "llen", queue])).stdout.trim()).toBe("1");

      // The rendered worker command consumes it and stores the result in the rendered result backend.
      const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      expect((await box.exec(["/bin/sh", "-c", `cd /srv/app && ${worker.command.map(q).join(" ")} >/tmp/worker.log 2>&1 &`], { user: "nobody", env: appEnv })).code).toBe(0);
      const result = await box.exec(["/usr/bin/python3", "-c",
        `from webstack_example.tasks import app; print(app.AsyncResult(${JSON.stringify(taskId)}).get(timeout=60))`], { user: "nobody", env: appEnv, timeoutMs: 90_000 });
      expect(result.stderr).toBe("");
      expect(result.stdout.trim()).toBe("42");
      expect((await cli(["-n", broker.pathname.slice(1) || "0", "llen", queue])).stdout.trim()).toBe("0");
      // And a second round trip with the worker running.
      const rt = await box.exec(["/usr/bin/python3", "-c", "from webstack_example.tasks import add; print(add.delay(2, 3).get(timeout=30))"], { user: "nobody", env: appEnv, timeoutMs: 60_000 });
      expect(rt.stdout.trim()).toBe("5");
      expect((await box.sh("cat /tmp/worker.log")).stdout).toMatch(/Task webstack_example\.tasks\.add\[[0-9a-f-]+\] succeeded/);
      // The rendered worker healthcheck passes against this broker.
      const hc = worker.healthcheck as { test: string[] } | undefined;
      expect(hc?.test[0]).toBe("CMD-SHELL");
      const ping = await box.exec(["/bin/sh", "-c", `cd /srv/app && ${hc!.test[1]}`], { user: "nobody", env: appEnv, timeoutMs: 30_000 });
      expect(ping.code).toBe(0);
    } catch (e) {
      const logs = (await box.sh("tail -n 40 /tmp/worker.log").catch(() => ({ stdout: "" }))).stdout;
      throw new Error(`${(e as Error).message}\n--- worker log ---\n${logs}\n--- redis log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
