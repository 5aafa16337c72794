/**
 * End-to-end: examples/invenio (17 containers: HAProxy, nginx + uWSGI web and files tiers, Celery
 * workers and beat, PostgreSQL primary + replica, Redis, RabbitMQ, and Elasticsearch, which here is
 * the STUB image). Synth, apply, wait healthy, GET /ping and /hits?write=1 through the load balancer
 * on 127.0.0.1:80, /cache twice (Redis hit) and /task?x=2&y=3 (Celery via RabbitMQ), destroy. See smoke.test.ts for the conventions.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import {
  acquireSuiteLock,
  apply,
  CI,
  destroy,
  engineNofileHardLimit,
  ensureImages,
  generateVariables,
  imagesOf,
  missingPrerequisites,
  releaseSuiteLock,
  startEngine,
  stopEngine,
  waitHealthy,
  type Handle,
} from "./applier";

const ROOT = path.resolve(__dirname, "../..");
const log = (...a: unknown[]) => process.stdout.write(`[e2e invenio] ${a.join(" ")}\n`);
const IN_E2E_RUN = process.env.WEBSTACK_E2E_SUITE === "1";
const gone = IN_E2E_RUN ? missingPrerequisites() : [];
const maybe = !IN_E2E_RUN || (gone.length && !CI) ? describe.skip : describe;

function get(port: number, urlPath: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath}: timeout`)));
    req.on("error", reject);
  });
}

maybe("e2e: examples/invenio on a real Docker engine (elasticsearch is a STUB)", () => {
  let outdir = "";
  let tfJson = "";
  let handle: Handle | undefined;
  let engineStarted = false;

  beforeAll(async () => {
    if (gone.length) throw new Error(`missing: ${gone.join(", ")} (CI=true: the e2e suite never skips)`);
    await acquireSuiteLock();
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-synth-"));
    const synth = spawnSync("npx", ["tsx", "examples/invenio/main.ts"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, CDKTF_OUTDIR: outdir }, timeout: 120_000 });
    if (synth.status !== 0) throw new Error(`synth of examples/invenio failed (${synth.status}):\n${synth.stdout}${synth.stderr}`);
    tfJson = path.join(outdir, "stacks", "invenio", "cdk.tf.json");
    log(startEngine().trim());
    engineStarted = true;
    const t1 = Date.now();
    log(ensureImages(imagesOf(tfJson)).trim().replace(/\n/g, "\n[e2e invenio] "));
    log(`images ready in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    if (handle) await destroy(handle).catch((e) => log(`destroy in afterAll failed: ${e}`));
    if (engineStarted && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") log(stopEngine().trim());
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
    releaseSuiteLock();
  });

  test("applies, becomes healthy, serves /ping, /hits?write=1, /cache (hit) and /task (Celery) via 127.0.0.1:80, destroys", async () => {
    const cap = engineNofileHardLimit();
    handle = await apply(tfJson, generateVariables(tfJson), { replaceLeftovers: true, ulimitCap: cap });
    for (const d of handle.deviations) log(`DEVIATION (engine nofile hard limit ${cap}): ${d}`);
    log(`applied ${handle.containers.length} containers in ${handle.applyMs} ms`);
    const health = await waitHealthy(handle, 300_000);
    log(`health after ${(health.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(health.status)}`);
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");

    let ping = { status: 0, body: "" };
    for (let i = 0; i < 8 && ping.status !== 200; i++) {
      ping = await get(80, "/ping").catch((e) => ({ status: 0, body: String(e) }));
      if (ping.status !== 200) await new Promise((r) => setTimeout(r, 2000));
    }
    log(`GET http://127.0.0.1:80/ping -> ${ping.status}`);
    expect(ping.status).toBe(200);
    const hits = await get(80, "/hits?write=1");
    log(`GET http://127.0.0.1:80/hits?write=1 -> ${hits.status} ${hits.body.trim()}`);
    expect(hits.status).toBe(201);
    expect((JSON.parse(hits.body) as { role: string }).role).toBe("primary");

    // Cache: two probes; the second finds the key the first set (Redis, shared by every process).
    const c1 = await get(80, "/cache");
    const c2 = await get(80, "/cache");
    log(`GET /cache -> ${c1.status} ${c1.body.trim()} | ${c2.status} ${c2.body.trim()}`);
    expect(c1.status).toBe(200);
    expect(c2.status).toBe(200);
    expect(JSON.parse(c2.body)).toMatchObject({ backend: "redis", hit: true, stored: true });

    // Celery round trip: the app publishes tasks.add to RabbitMQ, a worker runs it, the result comes back.
    let task = { status: 0, body: "" };
    for (let i = 0; i < 5 && task.status !== 200; i++) {
      task = await get(80, "/task?x=2&y=3", 20_000).catch((e) => ({ status: 0, body: String(e) }));
      if (task.status !== 200) await new Promise((r) => setTimeout(r, 2000));
    }
    log(`GET /task?x=2&y=3 -> ${task.status} ${task.body.trim()}`);
    expect(task.status).toBe(200);
    expect((JSON.parse(task.body) as { result: number }).result).toBe(5);

    const h = handle;
    handle = undefined;
    await destroy(h);
  });
});
