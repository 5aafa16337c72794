/**
 * The connection model against a real PostgreSQL: a pooled app process never holds more server
 * connections than it runs requests at once, however large its pool; a process without a pool
 * holds one per request in flight and none after. The example app (gunicorn, rendered config and
 * DATABASE_URL) is driven past full concurrency while pg_stat_activity is sampled per process
 * (application_name webstack_example/<pid>).
 */
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { container, containersOf, type Sandbox } from "./harness";
import { itWithPostgres, psqlSocket, withPrimaryAndApp } from "./postgres-helpers";

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
    await withPrimaryAndApp(`conn-${mode}`, primary, web, async (box) => {
      // Twice what the node can run at once, each request holding its connection for 2 s.
      const requests = 2 * PROCESSES * THREADS;
      const load = box.sh(`for i in $(seq ${requests}); do curl -s --max-time 20 -o /tmp/hold-$i 'http://127.0.0.1:8000/db/hold?s=2' & done; wait`);
      const peak = await peakPerProcess(box, load, 20);
      const answered = await box.sh("grep -l backend_pid /tmp/hold-* | wc -l");
      expect(Number(answered.stdout.trim())).toBe(requests);
      // No process ever held more than its threads, and the bound was reached (gunicorn's workers
      // accept unevenly under load, so not every process need reach it in every run).
      expect(peak.size).toBeGreaterThanOrEqual(1);
      expect(Math.max(...peak.values())).toBe(THREADS);
      for (const n of peak.values()) expect(n).toBeLessThanOrEqual(THREADS);

      const after = await psqlSocket(box, "select count(*) from pg_stat_activity where application_name like 'webstack_example/%'");
      // A pool keeps its idle connections (at most the threads that ran); without a pool none is left.
      if (mode === "none") expect(after.stdout.trim()).toBe("0");
      else expect(Number(after.stdout.trim())).toBeLessThanOrEqual(PROCESSES * THREADS);
    });
  });
});
