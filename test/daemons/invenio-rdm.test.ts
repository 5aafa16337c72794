/**
 * examples/invenio-rdm, file by file, with the real daemons: both uWSGI pools start from their own
 * uwsgi.ini (strict mode, the cookiecutter's options) behind their own nginx.conf, the REST pool
 * answering under /api through its mount; PostgreSQL, Redis (five databases) and RabbitMQ run their
 * rendered files. nginx -t and haproxy -c of the example are in web.test.ts and haproxy.test.ts, its
 * OpenSearch settings in search-schema.test.ts.
 */
import { buildInvenioRdmStack } from "../../examples/invenio-rdm/stack";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, testWith, type Container } from "./harness";
import { appCopies, curl } from "./web-pair";

const cs = containersOf((s) => buildInvenioRdmStack(s));
const UWSGI_INI = "/etc/webstack/uwsgi.ini";

/** One node of a pool, app server and nginx, with the app container's address on lo (nginx's upstream). */
async function withPoolNode(pool: "ui" | "api", fn: (box: Sandbox, app: Container) => Promise<void>): Promise<void> {
  const app = container(cs, `${pool}-1-app`);
  const ngx = container(cs, `${pool}-1-nginx`);
  const sysctls = Object.entries((app.sysctls as Record<string, string>) ?? {}).map(([k, v]) => `sysctl -q -w ${k}=${v}`);
  const box = new Sandbox(`rdm-${pool}`, {
    files: [...app.files, ...ngx.files],
    copies: appCopies,
    setup: [`ip addr add ${app.address}/32 dev lo`, ...sysctls, "chown -R nobody:nogroup /srv/app"].join("\n"),
  });
  try {
    await box.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app", PYTHONUNBUFFERED: "1" }, cwd: "/srv/app" });
    const started = await box.sh(`${ngx.command.map((a) => `'${a}'`).join(" ")} >/tmp/nginx.log 2>&1 &`);
    if (started.code !== 0) throw new Error(`nginx did not start: ${started.stderr}`);
    await box.waitFor("nginx /ping = 200", async () => (await curl(box, "http://127.0.0.1/ping")).code === "200", 60_000);
    await fn(box, app);
  } catch (e) {
    const nginxLog = (await box.sh("cat /tmp/nginx.log").catch(() => ({ stdout: "" }))).stdout;
    throw new Error(`${(e as Error).message}\n--- uwsgi log ---\n${box.log()}\n--- nginx log ---\n${nginxLog}`);
  } finally {
    await box.stop();
  }
}

/** uWSGI's stats: one entry per process, one core per thread. */
async function uwsgiWorkers(box: Sandbox): Promise<{ cores: unknown[] }[]> {
  let workers: { cores: unknown[] }[] = [];
  await box.waitFor("uwsgi stats", async () => {
    const r = await curl(box, "http://127.0.0.1:9191/");
    if (r.code === "200") workers = JSON.parse(r.body).workers ?? [];
    return workers.length > 0;
  });
  return workers;
}

describe("examples/invenio-rdm: the UI and REST uWSGI pools behind their nginx", () => {
  const it = testWith(["uwsgi", "nginx", "curl", "unshare", "nsenter", "ip"]);

  it("the UI pool's uwsgi.ini starts in strict mode with 6 processes x 4 threads and serves / and /static", async () => {
    await withPoolNode("ui", async (box, app) => {
      const ini = fileIn(app, UWSGI_INI);
      expect(ini).toMatch(/^strict = true$/m);
      expect(ini).toMatch(/^buffer-size = 8192$/m);
      const workers = await uwsgiWorkers(box);
      expect(workers).toHaveLength(6);
      for (const w of workers) expect(w.cores).toHaveLength(4);
      expect((await curl(box, "http://127.0.0.1/static/robots.txt")).code).toBe("200");
      // Not mounted: /api/ping reaches the app with PATH_INFO /api/ping, which it does not serve.
      expect((await curl(box, "http://127.0.0.1/api/ping")).code).toBe("404");
    });
  });

  it("the REST pool answers /api/ping under its mount; 100m on /api, the file-content URL streams past it", async () => {
    await withPoolNode("api", async (box, app) => {
      expect(fileIn(app, UWSGI_INI)).toMatch(/^mount = \/api=webstack_example\.wsgi:application$/m);
      expect(await uwsgiWorkers(box)).toHaveLength(6);
      // manage-script-name strips the mount point: the app sees /ping.
      expect(await curl(box, "http://127.0.0.1/api/ping")).toMatchObject({ code: "200", body: "pong" });
      // 101 MiB: over the 100m of /api, within the 50g of the file-content route.
      await box.sh("head -c 105906176 /dev/zero > /tmp/body");
      const post = async (url: string) => {
        const r = await box.exec(["curl", "-s", "--max-time", "60", "-w", "\n%{http_code}", "--data-binary", "@/tmp/body", url], { timeoutMs: 90_000 });
        const i = r.stdout.lastIndexOf("\n");
        return { code: r.stdout.slice(i + 1), body: r.stdout.slice(0, i) };
      };
      // nginx lets the body through to the app; the stand-in has no such URL (404), and sees it below the mount.
      const content = await post("http://127.0.0.1/api/records/abc12-3de45/draft/files/data.bin/content");
      expect(content.code).toBe("404");
      expect(JSON.parse(content.body).path).toBe("/records/abc12-3de45/draft/files/data.bin/content");
      expect((await post("http://127.0.0.1/api/records/abc12-3de45/draft/files")).code).toBe("413");
    });
  });
});

describe("examples/invenio-rdm: PostgreSQL, Redis and RabbitMQ run their rendered files", () => {
  /** A service container alone, its address on lo, `setup` as its image would have it. */
  async function withService(c: Container, setup: string, fn: (box: Sandbox) => Promise<void>, hostname?: string, env = c.env): Promise<void> {
    const box = new Sandbox(`rdm-${c.key}`, { files: c.files, hostname, setup: `ip addr add ${c.address}/32 dev lo\n${setup}` });
    try {
      await box.start({ user: c.user ?? "root", argv: c.command, env });
      await fn(box);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- ${c.key} log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  }

  testWith(["/usr/lib/postgresql/15/bin/postgres", "psql", "pg_isready", "unshare", "nsenter", "ip"])(
    "PostgreSQL 15: max_connections 200 and every rendered setting applied; the app role logs in over TCP",
    async () => {
      const db = container(cs, "db-primary");
      const conf = fileIn(db, "/etc/postgresql/postgresql.conf");
      const dirs = "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql";
      await withService(db, dirs, async (box) => {
        const ready = async () => (await box.exec(["pg_isready", "-q", "-h", db.address, "-p", "5432", "-U", "postgres"], { user: "postgres" })).code === 0;
        await box.waitFor("postgres ready on TCP", ready, 120_000);
        const psql = (sql: string) => box.exec(["psql", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", sql], { user: "postgres" });
        expect((await psql("SHOW max_connections")).stdout.trim()).toBe("200");
        expect((await psql("select count(*) from pg_file_settings where error is not null")).stdout.trim()).toBe("0");
        expect((await psql("select count(*) from pg_hba_file_rules where error is not null")).stdout.trim()).toBe("0");
        for (const name of ["shared_buffers", "work_mem", "max_wal_senders"]) {
          expect([name, (await psql(`SHOW ${name}`)).stdout.trim()]).toEqual([name, confValue(conf, name)]);
        }
        const login = await box.exec(["psql", "-X", "-At", "-c", "select current_user", `host=${db.address} port=5432 user=app dbname=app`], {
          user: "nobody",
          env: { PGPASSWORD: secretValue("db_password"), PGCONNECT_TIMEOUT: "5" },
        });
        expect(login.stdout.trim()).toBe("app");
      });
    },
  );

  testWith(["redis-server", "redis-cli", "unshare", "nsenter", "ip"])(
    "Redis 7.0: the five databases of the URLs answer, maxclients and maxmemory-policy as rendered",
    async () => {
      const cache = container(cs, "cache");
      const conf = fileIn(cache, "/usr/local/etc/redis/redis.conf");
      const pw = secretValue("cache_password");
      // Every database the app's environment names (redis://...:6379/<db>).
      const dbs = [...new Set(Object.values(container(cs, "ui-1-app").env).flatMap((v) => /^redis:\/\/.*\/(\d+)$/.exec(v)?.[1] ?? []))].sort();
      expect(dbs).toEqual(["0", "1", "2", "3", "4"]);
      await withService(cache, "mkdir -p /data && chown redis:redis /data", async (box) => {
        const cli = (db: string, ...args: string[]) => box.exec(["redis-cli", "--no-auth-warning", "-h", cache.address, "-a", pw, "-n", db, ...args]);
        await box.waitFor("redis PONG", async () => (await cli("0", "ping")).stdout.trim() === "PONG", 30_000);
        for (const db of dbs) expect([db, (await cli(db, "set", "k", db)).stdout.trim()]).toEqual([db, "OK"]);
        expect((await cli("0", "config", "get", "maxclients")).stdout.trim().split("\n")[1]).toBe(confValue(conf, "maxclients"));
        expect((await cli("0", "config", "get", "maxmemory-policy")).stdout.trim().split("\n")[1]).toBe(confValue(conf, "maxmemory-policy"));
      });
    },
  );

  testWith(["rabbitmq-server", "rabbitmqctl", "unshare", "nsenter", "ip"])(
    "RabbitMQ 3.10: start.sh boots the node with the rendered connection_max and watermark; the app user authenticates",
    async () => {
      const mq = container(cs, "mq");
      const conf = fileIn(mq, "/etc/rabbitmq/rabbitmq.conf");
      const node = mq.env.RABBITMQ_NODENAME;
      const env = { ...mq.env, HOME: "/var/lib/rabbitmq" };
      const dirs = "rm -rf /var/lib/rabbitmq && mkdir -p /var/lib/rabbitmq /var/log/rabbitmq && chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq";
      await withService(mq, dirs, async (box) => {
        const ctl = (...args: string[]) => box.exec(["rabbitmqctl", "-q", "-n", node, ...args], { user: "rabbitmq", env, timeoutMs: 60_000 });
        await box.waitFor("rabbitmq boot", async () => (await ctl("await_startup", "--timeout", "5")).code === 0, 120_000);
        expect((await ctl("eval", "application:get_env(rabbit, connection_max).")).stdout.trim()).toBe(`{ok,${confValue(conf, "connection_max")}}`);
        expect((await ctl("eval", "vm_memory_monitor:get_memory_limit().")).stdout.trim()).toBe(confValue(conf, "vm_memory_high_watermark.absolute"));
        expect((await ctl("authenticate_user", confValue(conf, "default_user"), secretValue("mq_password"))).code).toBe(0);
      }, node.split("@")[1], { ...env, RABBITMQ_NODENAME: node });
    },
  );
});
