/**
 * The connection model against a real PostgreSQL: a pooled app process never holds more server
 * connections than it runs requests at once, however large its pool; a process without a pool
 * holds one per request in flight and none after. The example app (gunicorn, rendered config and
 * DATABASE_URL) is driven past full concurrency while pg_stat_activity is sampled per process
 * (application_name webstack_example/<pid>).
 */
import * as path from "node:path";
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf } from "./harness";
import { itWithPostgres, psqlSocket, waitReady } from "./postgres-helpers";

const it = itWithPostgres;
const PROCESSES = 2;
const THREADS = 3;

function stackWith(connectionPool: "pooled" | "none") {
  return containersOf((scope) => {
    const stack = new WebStack(scope, `conn${connectionPool}`, { subnet: "127.0.0.0/16" });
    const db = new Database(stack, "db", { maxConnections: 60, replicas: 0, memoryMiB: 1024 });
    // A pool (5 + 5) far larger than the threads: only the threads can bound the process.
    const web = new WebTier(stack, "web", {
      nodes: 1, server: "gunicorn", processes: PROCESSES, threads: THREADS, poolSize: connectionPool === "pooled" ? 5 : 0, maxOverflow: 5, connectionPool,
      image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db,
    });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

/** Server connections per app process, sampled `samples` times while `load` runs. */
async function peakPerProcess(box: Sandbox, load: Promise<unknown>, samples: number): Promise<Map<string, number>> {
  const peak = new Map<string, number>();
  for (let i = 0; i < samples; i++) {
    const r = await psqlSocket(box, "select application_name, count(*) from pg_stat_activity where application_name like 'webstack_example/%' group by 1");
    for (const line of r.stdout.trim().split("\n").filter(Boolean)) {
      const [name, n] = line.split("|");
      peak.set(name, Math.max(peak.get(name) ?? 0, Number(n)));
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  await load;
  return peak;
}

describe.each(["pooled", "none"] as const)("connectionPool %s", (mode) => {
  it(`each process holds ${mode === "pooled" ? "at most" : "exactly"} one server connection per thread in use, as the budget counts`, async () => {
    const cs = stackWith(mode);
    const primary = container(cs, "db-primary");
    const web = container(cs, "web-1-app");
    const box = new Sandbox(`conn-${mode}`, {
      files: [...primary.files, ...web.files],
      copies: { [path.resolve(__dirname, "../../examples/app/webstack_example")]: "/srv/app/webstack_example" },
      setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
    });
    try {
      await box.start({ user: "postgres", argv: primary.command, env: primary.env });
      await waitReady(box, primary.address);
      const env = Object.entries({ ...web.env, PYTHONPATH: "/srv/app" }).map(([k, v]) => `${k}='${v}'`).join(" ");
      expect((await box.sh(`cd /srv/app && env ${env} ${web.command.join(" ")} >/tmp/gunicorn.log 2>&1 &`, { user: "nobody" })).code).toBe(0);
      await box.waitFor("gunicorn /ping", async () => (await box.exec(["curl", "-sf", "--max-time", "5", "http://127.0.0.1:8000/ping"])).code === 0, 60_000);

      // Twice what the node can run at once, each request holding its connection for 2 s.
      const requests = 2 * PROCESSES * THREADS;
      const load = box.sh(`for i in $(seq ${requests}); do curl -s --max-time 20 -o /tmp/hold-$i 'http://127.0.0.1:8000/db/hold?s=2' & done; wait`);
      const peak = await peakPerProcess(box, load, 20);
      const answered = await box.sh("grep -l backend_pid /tmp/hold-* | wc -l");
      expect(Number(answered.stdout.trim())).toBe(requests);
      expect(peak.size).toBe(PROCESSES);
      // Every process ran THREADS requests at once (the bound is reached), and never held more.
      expect([...peak.values()]).toEqual(Array(PROCESSES).fill(THREADS));

      const after = await psqlSocket(box, "select count(*) from pg_stat_activity where application_name like 'webstack_example/%'");
      // A pool keeps its idle connections (at most the threads that ran); without a pool none is left.
      if (mode === "none") expect(after.stdout.trim()).toBe("0");
      else expect(Number(after.stdout.trim())).toBeLessThanOrEqual(PROCESSES * THREADS);
    } catch (e) {
      const logs = (await box.sh("tail -n 40 /tmp/gunicorn.log").catch(() => ({ stdout: "" }))).stdout;
      throw new Error(`${(e as Error).message}\n--- gunicorn log ---\n${logs}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
