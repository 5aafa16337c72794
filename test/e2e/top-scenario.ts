/**
 * `cdktf-webstack top` against the running invenio cluster (the e2e block of invenio.test.ts): before
 * and during requests that each hold a primary connection, the held connections show as active
 * under the web tier beside its WS-DB-CONNECTIONS line, none under files, every figure within its
 * limit; the table prints each figure beside the model's; a stack not deployed is a one-line error.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import type { Finding } from "../../lib/core/budgets/evaluate";
import { SOCKET } from "./docker-api";
import { figure, sleep, startLoad } from "./scenarios";

const ROOT = path.resolve(__dirname, "../..");

export async function expectTopReportsLiveFigures(findings: readonly Finding[], lbPort: number, log: (...a: unknown[]) => void): Promise<void> {
  const run = (stackFile: string, json: boolean) =>
    new Promise<{ code: number; stdout: string; stderr: string; seconds: number }>((resolve) => {
      const t0 = Date.now();
      const args = ["tsx", "bin/cdktf-webstack.ts", "top", stackFile, ...(json ? ["--json"] : [])];
      // Asynchronous: the load below runs on this event loop while top reads.
      execFile("npx", args, { cwd: ROOT, env: { ...process.env, DOCKER_HOST: `unix://${SOCKET}` }, timeout: 120_000, maxBuffer: 16 << 20 }, (e, stdout, stderr) =>
        resolve({ code: e ? (typeof e.code === "number" ? e.code : 1) : 0, stdout, stderr, seconds: (Date.now() - t0) / 1000 }),
      );
    });
  type Section = { rule: string; container: string; rows: Array<{ who: string; live: number | null; active?: number; model: number | null; over: boolean }>; total?: { live: number; model: number; limit: number }; error?: string };
  const sectionsOf = (stdout: string) => (JSON.parse(stdout) as Array<{ stack: string; sections: Section[] }>)[0].sections;
  const rowOf = (sections: Section[], rule: string, container: string, who: string) => sections.find((s) => s.rule === rule && s.container === container)!.rows.find((r) => r.who === who)!;
  const before = await run("examples/invenio/main.ts", true);
  if (before.code !== 0) log(`top before the load: exit ${before.code}: ${before.stderr.trim()}`);
  expect(before.code).toBe(0);
  const webBefore = rowOf(sectionsOf(before.stdout), "WS-DB-CONNECTIONS", "db-primary", "web");
  const filesBefore = rowOf(sectionsOf(before.stdout), "WS-DB-CONNECTIONS", "db-primary", "files").live;
  // No request in flight: the web tier's connections (left from the earlier tests) sit idle in its pools.
  expect(webBefore.active).toBe(0);

  // HELD requests at a time, each holding a primary connection for 5 s, through HAProxy's app backend.
  const HELD = 6;
  const load = startLoad(lbPort, HELD, "/db/hold?s=5", 60_000);
  let during: Awaited<ReturnType<typeof run>>;
  try {
    await sleep(3000);
    during = await run("examples/invenio/main.ts", true);
  } finally {
    load.stop();
  }
  const held = await load.done;
  log(`top during the /db/hold load: exit ${during.code} in ${during.seconds.toFixed(1)} s; load ${JSON.stringify(held)}`);
  expect(held.failed).toBe(0);
  expect(during.code).toBe(0);
  expect(during.stderr).not.toMatch(/\n\s+at /);
  const sections = sectionsOf(during.stdout);
  // Nothing failed to read: every daemon answered.
  expect(sections.filter((s) => s.error !== undefined).map((s) => `${s.container}: ${s.error}`)).toEqual([]);
  // The model's figures are the synth's: the web line of WS-DB-CONNECTIONS, its used and limit.
  const dbFinding = findings.find((f) => f.ruleId === "WS-DB-CONNECTIONS" && f.constructPath === "invenio/db")!;
  const webShare = Number(dbFinding.lines.find((l) => l.startsWith("invenio/web: "))!.split(" = ").pop());
  const web = rowOf(sections, "WS-DB-CONNECTIONS", "db-primary", "web");
  log(`top: web ${web.live} open (${webBefore.live} before), ${web.active} active, of its share ${web.model}; files ${filesBefore} before, ${rowOf(sections, "WS-DB-CONNECTIONS", "db-primary", "files").live} during`);
  expect(web.model).toBe(webShare);
  // The held connections run pg_sleep: HELD active under web (one may be between its response and its next request).
  expect(web.active).toBeGreaterThanOrEqual(HELD - 1);
  expect(web.active).toBeLessThanOrEqual(HELD);
  expect(web.live).toBeGreaterThanOrEqual(web.active!);
  expect(web.live).toBeLessThanOrEqual(webShare);
  expect(web.over).toBe(false);
  // The right tier: the files tier got none of the load.
  expect(rowOf(sections, "WS-DB-CONNECTIONS", "db-primary", "files")).toMatchObject({ live: filesBefore, active: 0 });
  const primary = sections.find((s) => s.rule === "WS-DB-CONNECTIONS" && s.container === "db-primary")!.total!;
  expect(primary).toMatchObject({ model: dbFinding.used, limit: dbFinding.limit });
  expect(primary.live).toBeGreaterThanOrEqual(web.live!);
  expect(primary.live).toBeLessThanOrEqual(primary.limit);
  figure("invenio_top_web_connections_active", web.active!);
  figure("invenio_top_web_connections_open", web.live!);
  // Running the app (a synth in memory), then five docker exec (two PostgreSQL servers, Redis, RabbitMQ, HAProxy), docker ps and
  // one docker stats: a bound that catches a hang, not a regression.
  expect(during.seconds).toBeLessThanOrEqual(60);
  figure("invenio_top_seconds", during.seconds.toFixed(1));
  // Each HAProxy server of the app backend within its maxconn; the held requests are in flight through them
  // (at most one between its response and its next request).
  const app = sections.find((s) => s.rule === "WS-LB-SERVER-MAXCONN")!.rows.filter((r) => r.who.startsWith("app/"));
  expect(app.length).toBe(2);
  for (const r of app) expect(r.live!).toBeLessThanOrEqual(r.model!);
  const sessions = app.reduce((n, r) => n + r.live!, 0);
  expect(sessions).toBeGreaterThanOrEqual(HELD - 1);
  figure("invenio_top_app_backend_sessions", sessions);
  // Broker and cache within their rules; each Celery worker holds its consumer connections.
  for (const rule of ["WS-REDIS-CLIENTS", "WS-RABBITMQ-CONNECTIONS"]) {
    const s = sections.find((x) => x.rule === rule)!;
    expect(s.total!.live).toBeLessThanOrEqual(s.total!.limit);
  }
  expect(rowOf(sections, "WS-RABBITMQ-CONNECTIONS", "mq", "invenio/worker").live).toBeGreaterThanOrEqual(2);
  // Every container's memory read, none above its limit.
  const memory = sections.find((s) => s.rule === "memoryMiB")!.rows;
  expect(memory.filter((r) => r.live === null).map((r) => r.who)).toEqual([]);
  for (const r of memory) expect(r.live!).toBeLessThanOrEqual(r.model!);
  // The table: each figure beside the model's.
  const table = await run("examples/invenio/main.ts", false);
  log(`top's table:\n${table.stdout}`);
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(new RegExp(`\\n  web +\\d+ +\\d+ +${webShare} `));
  // A stack that is not running: a clear error, exit 1, no stack trace.
  const absent = await run("examples/small-site/main.ts", false);
  log(`top of a stack not deployed: exit ${absent.code}: ${absent.stderr.trim()}`);
  expect(absent.code).toBe(1);
  expect(absent.stderr).toMatch(/no container of stack small-site is running/);
  expect(absent.stderr).not.toMatch(/\n\s+at /);
}
