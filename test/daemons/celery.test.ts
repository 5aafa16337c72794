import * as path from "node:path";
import { Database, LoadBalancer, Queue, WebStack, WebTier, WorkerTier } from "../../lib";
import { Sandbox, container, containersOf, testWith } from "./harness";

const it = testWith(["rabbitmq-server", "rabbitmqctl", "celery", "gunicorn", "curl", "unshare", "nsenter", "ip"]);
const APP_DIR = path.resolve(__dirname, "../../examples/app");

describe("Celery worker + RabbitMQ + gunicorn, as rendered", () => {
  it("the web app's /task runs tasks.add on the rendered worker through the rendered broker; the worker healthcheck passes", async () => {
    const cs = containersOf((scope) => {
      const stack = new WebStack(scope, "q", { subnet: "127.77.0.0/16" });
      const db = new Database(stack, "db", { replicas: 0 });
      const mq = new Queue(stack, "mq", { engine: "rabbitmq", memoryMiB: 512 });
      const app = { image: "webstack-example-app:0.1", database: db, queue: mq };
      const web = new WebTier(stack, "web", { ...app, nodes: 1, server: "gunicorn", processes: 2, wsgiModule: "webstack_example.wsgi:application" });
      new WorkerTier(stack, "worker", { ...app, nodes: 1, concurrency: 2, celeryApp: "webstack_example.tasks" });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    });
    const mq = container(cs, "mq");
    const web = container(cs, "web-1-app");
    const worker = container(cs, "worker-1");
    expect(worker.env.CELERY_BROKER_URL).toBe(web.env.CELERY_BROKER_URL);
    const node = mq.env.RABBITMQ_NODENAME;
    const mqEnv = { ...mq.env, HOME: "/var/lib/rabbitmq" };
    const appEnv = (c: typeof web) => ({ ...c.env, PYTHONPATH: "/srv/app", HOME: "/tmp" });
    const box = new Sandbox("celery", {
      files: [...mq.files, ...web.files, ...worker.files],
      hostname: node.split("@")[1],
      copies: { [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example" },
      setup: "rm -rf /var/lib/rabbitmq && mkdir -p /var/lib/rabbitmq && chown rabbitmq:rabbitmq /var/lib/rabbitmq",
    });
    const bg = async (name: string, argv: string[], env: Record<string, string>) => {
      const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      const r = await box.exec(["/bin/sh", "-c", `cd /srv/app && ${argv.map(q).join(" ")} >/tmp/${name}.log 2>&1 &`], { user: "nobody", env });
      expect(r.code).toBe(0);
    };
    try {
      await box.start({ user: mq.user ?? "rabbitmq", argv: mq.command, env: mqEnv });
      await box.waitFor("rabbitmq boot", async () => (await box.exec(["rabbitmqctl", "-q", "-n", node, "await_startup", "--timeout", "5"], { user: "rabbitmq", env: mqEnv })).code === 0, 120_000);
      await bg("worker", worker.command, appEnv(worker));
      await bg("gunicorn", web.command, appEnv(web));
      await box.waitFor("gunicorn /ping", async () => (await box.exec(["curl", "-sf", "--max-time", "3", "http://127.0.0.1:8000/ping"])).code === 0, 60_000);
      let body = "";
      await box.waitFor("/task answered by the worker", async () => {
        body = (await box.exec(["curl", "-s", "--max-time", "15", "http://127.0.0.1:8000/task?x=2&y=3"], { timeoutMs: 20_000 })).stdout;
        return /"result": 5/.test(body);
      }, 90_000);
      expect(JSON.parse(body).result).toBe(5);
      // The request id the app was given travels as the task's header: the worker's line for that
      // task carries it beside the task id, in the rendered format.
      const requestId = `daemon-${process.pid}-${Date.now()}`;
      const traced = JSON.parse(
        (await box.exec(["curl", "-s", "--max-time", "15", "-H", `X-Request-ID: ${requestId}`, "http://127.0.0.1:8000/task?x=4&y=5"], { timeoutMs: 20_000 })).stdout,
      ) as { task_id: string; result: number };
      expect(traced.result).toBe(9);
      let lines: string[] = [];
      await box.waitFor("the worker's line for the task", async () => {
        lines = (await box.sh("cat /tmp/worker.log")).stdout.split("\n").filter((l) => l.includes(traced.task_id));
        return lines.some((l) => / succeeded in /.test(l));
      }, 10_000);
      const succeeded = lines.find((l) => / succeeded in /.test(l))!;
      expect(succeeded).toMatch(new RegExp(`^\\[[^\\]]+: INFO/ForkPoolWorker-\\d+\\] task_id=${traced.task_id} request_id=${requestId} Task webstack_example\\.tasks\\.add\\[${traced.task_id}\\] succeeded in `));
      // Outside a task (the main process's "received" line), both fields are "-".
      expect(lines.find((l) => / received$/.test(l))).toMatch(/ task_id=- request_id=- Task webstack_example\.tasks\.add\[/);
      const gunicornLog = (await box.sh("cat /tmp/gunicorn.log")).stdout;
      expect(gunicornLog).toContain(`request_id=${requestId}`);
      const hc = worker.healthcheck as { test: string[] } | undefined;
      expect(hc?.test[0]).toBe("CMD-SHELL");
      const ping = await box.exec(["/bin/sh", "-c", `cd /srv/app && ${hc!.test[1]}`], { user: "nobody", env: appEnv(worker), timeoutMs: 30_000 });
      expect(ping.code).toBe(0);
    } catch (e) {
      const logs = (await box.sh("tail -n 40 /tmp/worker.log /tmp/gunicorn.log").catch(() => ({ stdout: "" }))).stdout;
      throw new Error(`${(e as Error).message}\n--- app logs ---\n${logs}\n--- rabbitmq log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});

describe("Celery beat, as rendered, with any scheduler", () => {
  it("beat runs with Celery's own and with another scheduler class, and its health check passes only while the broker answers", async () => {
    const build = (id: string, beatScheduler?: string) =>
      containersOf((scope) => {
        const stack = new WebStack(scope, id, { subnet: "127.77.0.0/16" });
        const mq = new Queue(stack, "mq", { engine: "rabbitmq", memoryMiB: 512 });
        const web = new WebTier(stack, "web", { image: "webstack-example-app:0.1", nodes: 1, wsgiModule: "webstack_example.wsgi:application", queue: mq });
        new WorkerTier(stack, "worker", { image: "webstack-example-app:0.1", queue: mq, celeryApp: "webstack_example.tasks", beat: true, beatScheduler });
        new LoadBalancer(stack, "lb", { defaultTarget: web });
        return stack;
      });
    const persistent = build("beat");
    const inMemory = build("beat", "celery.beat:Scheduler");
    const mq = container(persistent, "mq");
    const node = mq.env.RABBITMQ_NODENAME;
    const mqEnv = { ...mq.env, HOME: "/var/lib/rabbitmq" };
    const box = new Sandbox("celery-beat", {
      files: mq.files,
      hostname: node.split("@")[1],
      copies: { [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example" },
      setup: "rm -rf /var/lib/rabbitmq && mkdir -p /var/lib/rabbitmq && chown rabbitmq:rabbitmq /var/lib/rabbitmq",
    });
    const appEnv = (c: { env: Record<string, string> }) => ({ ...c.env, PYTHONPATH: "/srv/app", HOME: "/tmp" });
    const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const probe = async (beat: ReturnType<typeof container>) =>
      (await box.exec(["/bin/sh", "-c", `cd /srv/app && ${(beat.healthcheck as { test: string[] }).test[1]}`], { user: "nobody", env: appEnv(beat), timeoutMs: 30_000 })).code;
    try {
      await box.start({ user: mq.user ?? "rabbitmq", argv: mq.command, env: mqEnv });
      await box.waitFor("rabbitmq boot", async () => (await box.exec(["rabbitmqctl", "-q", "-n", node, "await_startup", "--timeout", "5"], { user: "rabbitmq", env: mqEnv })).code === 0, 120_000);
      for (const [name, cs] of [["persistent", persistent], ["in-memory", inMemory]] as const) {
        const beat = container(cs, "worker-beat");
        expect(beat.command.join(" ")).toContain(name === "persistent" ? "--schedule=/tmp/celerybeat-schedule" : "--scheduler=celery.beat:Scheduler");
        const r = await box.exec(["/bin/sh", "-c", `cd /srv/app && ${beat.command.map(q).join(" ")} >/tmp/beat-${name}.log 2>&1 & echo $!`], { user: "nobody", env: appEnv(beat) });
        await box.waitFor(`beat (${name}) started`, async () => /beat: Starting/.test((await box.sh(`cat /tmp/beat-${name}.log`)).stdout), 60_000);
        expect(await probe(beat)).toBe(0);
        await box.sh(`kill ${r.stdout.trim()}`);
      }
      // With the broker gone, the probe fails: it checks what beat needs, not a file.
      await box.exec(["rabbitmqctl", "-q", "-n", node, "stop_app"], { user: "rabbitmq", env: mqEnv });
      expect(await probe(container(inMemory, "worker-beat"))).not.toBe(0);
    } catch (e) {
      const logs = (await box.sh("tail -n 20 /tmp/beat-*.log").catch(() => ({ stdout: "" }))).stdout;
      throw new Error(`${(e as Error).message}\n--- beat logs ---\n${logs}\n--- rabbitmq log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
