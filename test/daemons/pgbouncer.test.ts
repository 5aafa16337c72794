import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, sleep, testWith, type Container } from "./harness";

const it = testWith(["/usr/lib/postgresql/15/bin/postgres", "pgbouncer", "psql", "pg_isready", "unshare", "nsenter", "ip"]);
const INI = "/etc/pgbouncer/pgbouncer.ini";

const POOLER = { mode: "transaction", defaultPoolSize: 5, reservePoolSize: 2, maxClientConn: 50 } as const;

function poolerStack(): Container[] {
  return containersOf((scope) => {
    // A loopback subnet: the primary's and the pooler's addresses are both local to one namespace.
    const stack = new WebStack(scope, "pgb", { subnet: "127.0.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0, pooler: { ...POOLER } });
    const web = new WebTier(stack, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

describe("PgBouncer 1.18 runs the rendered pooler in front of the rendered PostgreSQL 15 primary", () => {
  it("the app logs in through pgbouncer with SCRAM; server connections never exceed max_db_connections; a wrong password is refused", async () => {
    const cs = poolerStack();
    const primary = container(cs, "db-primary");
    const pooler = container(cs, "db-pooler");
    const web = container(cs, "web-1-app");
    const ini = fileIn(pooler, INI);
    // The rendered pool sizes are the model's.
    expect(confValue(ini, "pool_mode")).toBe(POOLER.mode);
    expect(Number(confValue(ini, "default_pool_size"))).toBe(POOLER.defaultPoolSize);
    expect(Number(confValue(ini, "reserve_pool_size"))).toBe(POOLER.reservePoolSize);
    expect(Number(confValue(ini, "max_client_conn"))).toBe(POOLER.maxClientConn);
    const maxDb = Number(confValue(ini, "max_db_connections"));
    expect(maxDb).toBe(POOLER.defaultPoolSize + POOLER.reservePoolSize);
    const port = Number(confValue(ini, "listen_port"));
    expect(pooler.listens.map((l) => l.port)).toContain(port);
    // The app is pointed at the pooler, not at the primary.
    const url = new URL(web.env.DATABASE_URL);
    expect({ host: url.hostname, port: Number(url.port), user: url.username }).toEqual({ host: pooler.address, port, user: "app" });
    expect(decodeURIComponent(url.password)).toBe(secretValue("db_password"));

    const box = new Sandbox("pgbouncer", {
      files: [...primary.files, ...pooler.files],
      setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
    });
    const psqlSocket = (sql: string) => box.exec(["psql", "--no-psqlrc", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", sql], { user: "postgres" });
    try {
      await box.start({ user: primary.user ?? "postgres", argv: primary.command, env: primary.env });
      await box.waitFor("postgres on TCP", async () => (await box.exec(["pg_isready", "-q", "-h", primary.address, "-p", "5432"], { user: "postgres" })).code === 0, 120_000);
      // PgBouncer refuses to run as root; the pooler image runs it unprivileged.
      const envArgs = Object.entries(pooler.env).map(([k, v]) => `${k}='${v}'`).join(" ");
      const bg = await box.sh(`env ${envArgs} ${pooler.command.join(" ")} >/tmp/pgbouncer.log 2>&1 &`, { user: "postgres" });
      expect(bg.code).toBe(0);
      const appPsql = (sql: string, password = secretValue("db_password")) =>
        box.exec(["psql", "--no-psqlrc", "-X", "-At", "-c", sql, `host=${pooler.address} port=${port} user=app dbname=app connect_timeout=5`],
          { user: "nobody", env: { PGPASSWORD: password } });
      await box.waitFor("pgbouncer port", async () => (await box.exec(["pg_isready", "-q", "-h", pooler.address, "-p", String(port), "-U", "app", "-d", "app"])).code === 0, 30_000);

      // The rendered DATABASE_URL itself, through pgbouncer to the primary's port 5432.
      const viaUrl = await box.exec(["psql", "--no-psqlrc", "-X", "-At", "-c", "select current_user || '|' || current_database() || '|' || inet_server_port()", web.env.DATABASE_URL], { user: "nobody" });
      expect(viaUrl.stderr).toBe("");
      expect(viaUrl.stdout.trim()).toBe("app|app|5432");
      // The server side saw pgbouncer (from loopback), authenticated with SCRAM.
      const auth = await psqlSocket("select count(*) from pg_stat_activity a join pg_authid r on r.rolname = a.usename where a.usename = 'app' and r.rolpassword like 'SCRAM-SHA-256$%'");
      expect(Number(auth.stdout.trim())).toBeGreaterThan(0);

      // 20 concurrent clients, each holding a server connection for 0.5 s: the server side must never see more than max_db_connections.
      const clients = 20;
      const load = box.sh(
        `i=0; while [ $i -lt ${clients} ]; do i=$((i+1)); (psql --no-psqlrc -X -At -c 'select pg_sleep(0.5)' 'host=${pooler.address} port=${port} user=app dbname=app connect_timeout=10'; echo "rc=$?") >/tmp/c$i.out 2>&1 & done; wait; cat /tmp/c*.out | grep -c '^rc=0$'; grep -h -i error /tmp/c*.out >&2 || true`,
        { user: "nobody", env: { PGPASSWORD: secretValue("db_password") }, timeoutMs: 60_000 },
      );
      let done = false;
      void load.finally(() => (done = true));
      const samples: number[] = [];
      while (!done) {
        const s = await psqlSocket("select count(*) from pg_stat_activity where usename = 'app' and backend_type = 'client backend'");
        if (s.code === 0) samples.push(Number(s.stdout.trim()));
        await sleep(50);
      }
      const out = await load;
      expect(out.code).toBe(0);
      // Every client succeeded, none got an error.
      expect(out.stderr).toBe("");
      expect(out.stdout.trim()).toBe(String(clients));
      const peak = Math.max(...samples);
      expect(samples.length).toBeGreaterThan(3);
      expect(peak).toBeLessThanOrEqual(maxDb);
      // The pool was actually used: more than one server connection at once, up to default_pool_size.
      expect(peak).toBeGreaterThanOrEqual(POOLER.defaultPoolSize);
      const after = await psqlSocket("select count(*) from pg_stat_activity where usename = 'app'");
      expect(Number(after.stdout.trim())).toBeLessThanOrEqual(maxDb);

      const bad = await appPsql("select 1", "wrong");
      expect(bad.code).not.toBe(0);
      // PgBouncer answers the client with its own SCRAM failure, and logs the reason.
      expect(bad.stderr).toMatch(/FATAL: +SASL authentication failed/);
      expect((await box.sh("cat /tmp/pgbouncer.log")).stdout).toMatch(/app\/app@127\.0\.0\.1:\d+ password authentication failed/);
      expect((await appPsql("select 41 + 1")).stdout.trim()).toBe("42");
      // The pgbouncer process runs unprivileged.
      const who = await box.sh("for p in /proc/[0-9]*; do if [ \"$(cat $p/comm 2>/dev/null)\" = pgbouncer ]; then stat -c %U $p; fi; done");
      expect(who.stdout.trim()).toBe("postgres");
    } catch (e) {
      const pgb = (await box.sh("tail -n 40 /tmp/pgbouncer.log").catch(() => ({ stdout: "" }))).stdout;
      throw new Error(`${(e as Error).message}\n--- pgbouncer log ---\n${pgb}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
