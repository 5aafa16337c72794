/** What the PostgreSQL daemon tests share: a small stack, a sandbox running start.sh, psql and readiness. */
import * as path from "node:path";
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, containersOf, testWith, type Container } from "./harness";

export const itWithPostgres = testWith(["/usr/lib/postgresql/15/bin/postgres", "psql", "pg_isready", "unshare", "nsenter", "ip"]);
export const CONF = "/etc/postgresql/postgresql.conf";

/** The settings derived as pgtune does (README "How the PostgreSQL settings are derived"), besides max_connections. */
export const PGTUNE_SETTINGS = [
  "shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem", "wal_buffers", "huge_pages",
  "min_wal_size", "max_wal_size", "checkpoint_completion_target", "wal_compression",
  "random_page_cost", "effective_io_concurrency", "default_statistics_target", "jit",
  "max_worker_processes", "max_parallel_workers", "max_parallel_workers_per_gather", "max_parallel_maintenance_workers",
];

/** A database with `replicas` and one web node using it, on `subnet`; `db` adds Database props. */
export function dbStack(id: string, subnet: string, replicas: number, synchronousReplicas = 0, db: object = {}): Container[] {
  return containersOf((scope) => {
    const stack = new WebStack(scope, id, { subnet });
    const database = new Database(stack, "db", { maxConnections: 60, replicas, synchronousReplicas, memoryMiB: 1024, ...db });
    const web = new WebTier(stack, "web", { nodes: 1, processes: 2, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

/** A sandbox running one rendered PostgreSQL container's start.sh as user postgres. */
export async function startPostgres(c: Container): Promise<Sandbox> {
  const box = new Sandbox(c.key, {
    files: c.files,
    // The image's volume and socket directory, owned by postgres as in postgres:15.
    setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
  });
  await box.start({ user: c.user ?? "postgres", argv: c.command, env: c.env });
  return box;
}

/** psql as the superuser over the socket (peer authentication). */
export const psqlSocket = (box: Sandbox, sql: string, timeoutMs?: number) =>
  box.exec(["psql", "--no-psqlrc", "-X", "-At", "-U", "postgres", "-d", "postgres", "-c", sql], { user: "postgres", timeoutMs });

export async function waitReady(box: Sandbox, host = "/var/run/postgresql", timeoutMs = 120_000): Promise<void> {
  await box.waitFor(`postgres ready on ${host}`, async () => (await box.exec(["pg_isready", "-q", "-U", "postgres", "-d", "postgres", "-h", host, "-p", "5432"], { user: "postgres" })).code === 0, timeoutMs);
}

/**
 * One sandbox running a rendered primary and, beside it, the example app under the rendered
 * gunicorn command with its rendered environment. `body` gets the box; on failure the gunicorn and
 * PostgreSQL logs are added to the error; the sandbox always stops.
 */
export async function withPrimaryAndApp(name: string, primary: Container, web: Container, body: (box: Sandbox) => Promise<void>): Promise<void> {
  const box = new Sandbox(name, {
    files: [...primary.files, ...web.files],
    copies: { [path.resolve(__dirname, "../../examples/app/webstack_example")]: "/srv/app/webstack_example" },
    setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
  });
  try {
    await box.start({ user: "postgres", argv: primary.command, env: primary.env });
    await waitReady(box, primary.address);
    const env = Object.entries({ ...web.env, PYTHONPATH: "/srv/app" }).map(([k, v]) => `${k}='${v}'`).join(" ");
    const started = await box.sh(`cd /srv/app && env ${env} ${web.command.join(" ")} >/tmp/gunicorn.log 2>&1 &`, { user: "nobody" });
    if (started.code !== 0) throw new Error(`gunicorn did not start: ${started.stderr}`);
    await box.waitFor("gunicorn /ping", async () => (await box.exec(["curl", "-sf", "--max-time", "5", "http://127.0.0.1:8000/ping"])).code === 0, 60_000);
    await body(box);
  } catch (e) {
    const logs = (await box.sh("tail -n 40 /tmp/gunicorn.log").catch(() => ({ stdout: "" }))).stdout;
    throw new Error(`${(e as Error).message}\n--- gunicorn log ---\n${logs}\n--- postgres log ---\n${box.log()}`);
  } finally {
    await box.stop();
  }
}
