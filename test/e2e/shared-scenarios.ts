/**
 * Scenario bodies that cluster.test.ts (small-site) and invenio.test.ts run alike, with jest
 * expectations inside, so that a fix to one scenario reaches both stacks. What differs between the
 * stacks (app server role, names of the FIGURE lines) is passed in, so the figures stay greppable in
 * the test files.
 */
import { randomBytes } from "node:crypto";
import { destroy, exec, type Handle } from "./applier";
import { call, request } from "./docker-api";
import { BUDGET_PROBE_PY, figure, logLines, psql, req, sleep } from "./scenarios";

type Log = (...a: unknown[]) => void;

const NON_SUPERUSER_CLIENTS =
  "select count(*) from pg_stat_activity a join pg_roles r on r.oid = a.usesysid where a.backend_type = 'client backend' and not r.rolsuper";

/**
 * One X-Request-ID chosen by the client and one made by HAProxy are each found in the HAProxy log,
 * exactly one nginx log and exactly one app log, of the same node.
 */
/** Where the tracing checks send their request and whose logs they read. */
interface TraceTarget {
  port: number;
  containers: ReadonlyArray<{ name: string; role: string }>;
  /** The role of the app server containers, whose logs count as the app's. */
  appRole: string;
  lbName: string;
  log: Log;
}

export async function expectRequestIdTraced(o: TraceTarget): Promise<void> {
  const since = Date.now() - 1000;
  const chosen = `e2e-${randomBytes(8).toString("hex")}`;
  const a = await req(o.port, "GET", "/ping", { "X-Request-ID": chosen });
  expect(a.status).toBe(200);
  expect(a.headers["x-request-id"]).toBe(chosen);
  const b = await req(o.port, "GET", "/ping");
  expect(b.status).toBe(200);
  const made = String(b.headers["x-request-id"] ?? "");
  expect(made).toMatch(/^[0-9a-f-]{36}$/); // HAProxy's unique-id (uuid), kept by nginx and echoed by the app
  expect(made).not.toBe(chosen);

  const kinds: Record<string, string> = { haproxy: "haproxy", nginx: "nginx", [o.appRole]: "app" };
  const where = async (id: string) => {
    const found: Record<string, string[]> = { haproxy: [], nginx: [], app: [] };
    // At most 20 rounds 250 ms apart: HAProxy logs a request when it ends.
    for (let i = 0; i < 20; i++) {
      for (const s of o.containers) {
        const kind = kinds[s.role];
        if (!kind || found[kind].includes(s.name)) continue;
        if ((await logLines(s.name, since)).some((l) => l.line.includes(`request_id=${id}`))) found[kind].push(s.name);
      }
      if (found.haproxy.length && found.nginx.length && found.app.length) break;
      await sleep(250);
    }
    return found;
  };
  for (const id of [chosen, made]) {
    const found = await where(id);
    o.log(`request_id=${id} found in ${JSON.stringify(found)}`);
    expect(found.haproxy).toEqual([o.lbName]);
    expect(found.nginx).toHaveLength(1);
    expect(found.app).toHaveLength(1);
    // The same node served it: <tier>-N-nginx and <tier>-N-app.
    expect(found.app[0].replace(/-app$/, "")).toBe(found.nginx[0].replace(/-nginx$/, ""));
  }
}

/**
 * One request to /task through the load balancer: its X-Request-ID is in the HAProxy log, one nginx
 * and one app log of the same node, and in the line of exactly one Celery worker for the task it
 * enqueued: the app passed the id as the task's `request_id` header, the worker's rendered format
 * prints it beside the task id the app answered with.
 */
export async function expectTaskRequestIdTraced(o: TraceTarget): Promise<void> {
  const since = Date.now() - 1000;
  const id = `e2e-task-${randomBytes(8).toString("hex")}`;
  const r = await req(o.port, "GET", "/task?x=20&y=22", { "X-Request-ID": id }, 20_000);
  expect(r.status).toBe(200);
  expect(r.headers["x-request-id"]).toBe(id);
  const task = JSON.parse(r.body) as { task_id: string; result: number };
  expect(task.result).toBe(42);
  const kinds: Record<string, string> = { haproxy: "haproxy", nginx: "nginx", [o.appRole]: "app", "celery-worker": "celery" };
  const found: Record<string, string[]> = { haproxy: [], nginx: [], app: [], celery: [] };
  const workerLines: string[] = [];
  // At most 20 rounds 250 ms apart, as above.
  for (let i = 0; i < 20 && Object.values(found).some((f) => f.length === 0); i++) {
    for (const s of o.containers) {
      const kind = kinds[s.role];
      if (!kind || found[kind].includes(s.name)) continue;
      const lines = (await logLines(s.name, since)).map((l) => l.line).filter((l) => l.includes(`request_id=${id}`));
      const mine = kind === "celery" ? lines.filter((l) => l.includes(`task_id=${task.task_id} `)) : lines;
      if (mine.length > 0) found[kind].push(s.name);
      if (kind === "celery") workerLines.push(...mine);
    }
    if (Object.values(found).some((f) => f.length === 0)) await sleep(250);
  }
  o.log(`request_id=${id} (task ${task.task_id}) found in ${JSON.stringify(found)}; worker: ${workerLines.join(" | ")}`);
  expect(found.haproxy).toEqual([o.lbName]);
  expect(found.nginx).toHaveLength(1);
  expect(found.app).toHaveLength(1);
  expect(found.app[0].replace(/-app$/, "")).toBe(found.nginx[0].replace(/-nginx$/, ""));
  expect(found.celery).toHaveLength(1);
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  expect(workerLines.some((l) => new RegExp(`task_id=${esc(task.task_id)} request_id=${esc(id)} Task \\S+\\[${esc(task.task_id)}\\] succeeded in `).test(l))).toBe(true);
}

/**
 * The WS-DB-CONNECTIONS limit is PostgreSQL's own: the probe (BUDGET_PROBE_PY, as the app's role) tops
 * the non-superuser connections up to `limit`, all fit, and one more is refused. Returns the finding.
 */
export async function expectConnectionBudget(o: {
  findings: ReadonlyArray<{ ruleId: string; used: number; limit: number }>;
  primary: { name: string; address: string };
  /** The app container the probe runs in (its DATABASE_URL, so its role). */
  app: string;
  db: string;
  figures: { used: string; limit: string; opened?: string; refusedAt: string };
  log: Log;
}): Promise<{ used: number; limit: number }> {
  const f = o.findings.find((x) => x.ruleId === "WS-DB-CONNECTIONS");
  expect(f).toBeDefined();
  const limit = f!.limit;
  figure(o.figures.used, f!.used);
  figure(o.figures.limit, limit);
  // Connections other non-superuser clients (app pools, workers, earlier scenarios) hold right now.
  const others = Number(await psql(o.primary.name, o.db, NON_SUPERUSER_CLIENTS));
  o.log(`non-superuser client connections already open on the primary: ${others}`);
  expect(others).toBeLessThan(limit);
  const want = limit - others;
  const r = await exec(o.app, ["python3", "-c", BUDGET_PROBE_PY, o.primary.address, String(want)]);
  o.log(`budget probe (exit ${r.exitCode}): ${r.output.trim()}`);
  expect(r.exitCode).toBe(0);
  const out = JSON.parse(r.output.trim().split("\n").pop()!) as { user: string; opened: number; error: string | null; extra: string; held_by_non_superusers: number };
  if (o.figures.opened) figure(o.figures.opened, out.opened);
  expect(out.user).not.toBe("postgres");
  expect(out.error).toBeNull();
  expect(out.opened).toBe(want);
  // While they were held, exactly `limit` non-superuser connections were open: the budget's limit.
  expect(out.held_by_non_superusers).toBe(limit);
  expect(out.extra).toMatch(/too many clients already|remaining connection slots are reserved/);
  figure(o.figures.refusedAt, limit + 1);
  return { used: f!.used, limit };
}

/** Destroys the applied cluster and checks that none of its containers, its network or its volumes is left. */
export async function expectDestroyed(session: { handle?: Handle }, network: string, volumePrefix: string): Promise<void> {
  expect(session.handle).toBeDefined();
  const h = session.handle!;
  const ids = h.containers.map((c) => c.id);
  session.handle = undefined;
  await destroy(h);
  for (const id of ids) expect((await request("GET", `/containers/${id}/json`)).status).toBe(404);
  const nets = await call<Array<{ Name: string }>>("GET", "/networks");
  expect(nets.map((n) => n.Name)).not.toContain(network);
  const vols = await call<{ Volumes: Array<{ Name: string }> | null }>("GET", "/volumes");
  expect((vols.Volumes ?? []).map((v) => v.Name).filter((n) => n.startsWith(volumePrefix))).toEqual([]);
}
