/**
 * The "Measure!" loop on the real engine: `cdktf-webstack measure` deploys one node of
 * test/e2e/fixtures/measured-site.ts with the services it needs, steps the load with wrk, removes
 * everything and writes the measurement file; the next synth reads it, and the capacity answer and
 * the memory rule change accordingly.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { App } from "cdktf";
import { measurementFileSchema, type MeasurementFile } from "../../lib";
import { capacityAnswer } from "../../lib/core/capacity";
import { acquireSuiteLock, ensureImages, releaseSuiteLock, startEngine, stopEngine } from "./applier";
import { SOCKET } from "./docker-api";
import { buildMeasuredSite } from "./fixtures/measured-site";
import { describeE2e } from "./session";

const ROOT = path.resolve(__dirname, "../..");
const log = (...a: unknown[]) => process.stdout.write(`[e2e measure] ${a.join(" ")}\n`);

function findingsOf(build: (app: App) => unknown): { error?: string; app?: App } {
  try {
    const app = new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), "webstack-measured-")) });
    build(app);
    return { app };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describeE2e("e2e: cdktf-webstack measure on a real Docker engine", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-measure-"));
  const out = path.join(work, "web.json");
  let engineStarted = false;
  let locked = false;
  let file: MeasurementFile;
  let cli: { status: number | null; stdout: string; stderr: string; seconds: number };

  beforeAll(async () => {
    await acquireSuiteLock();
    locked = true;
    log(startEngine().trim());
    engineStarted = true;
    for (const line of ensureImages(["webstack-example-app:0.1", "postgres:15", "nginx:1.22"]).trim().split("\n")) log(line);
    const t0 = Date.now();
    const r = spawnSync(
      "npx",
      ["tsx", "bin/cdktf-webstack.ts", "measure", "test/e2e/fixtures/measured-site.ts", "--tier", "web", "--out", out, "--step-seconds", "3", "--max-connections", "16", "--mix", "/ping=1,/hits?write=1=1"],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, DOCKER_HOST: `unix://${SOCKET}` }, timeout: 8 * 60_000 },
    );
    cli = { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
    log(`measure exited ${r.status} after ${cli.seconds.toFixed(1)} s:\n${r.stderr}${r.stdout}`);
  });

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    if (engineStarted && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") log(stopEngine().trim());
    if (locked) releaseSuiteLock();
  });

  test("measure writes a measurement file with a knee, within its time bound, and leaves nothing behind", () => {
    expect(cli.status).toBe(0);
    expect(cli.seconds).toBeLessThan(300);
    expect(cli.stderr).toMatch(/^knee: [\d.]+ req\/s at \d+ connections/m);
    file = measurementFileSchema.parse(JSON.parse(fs.readFileSync(out, "utf8")));
    expect(file).toMatchObject({ tier: "measured-site/web", server: "gunicorn", image: "webstack-example-app:0.1", latencyObjectiveMs: 300 });
    expect(file.requestMix).toEqual([{ path: "/ping", weight: 1 }, { path: "/hits?write=1", weight: 1 }]);
    expect(file.engine).toMatch(/^Docker \d+\.\d+/);
    expect(file.runs[0].steps.length).toBeGreaterThan(1);
    expect(file.runs[0].steps.every((s) => s.requests > 0 && s.rssMiBPerProcess > 0)).toBe(true);
    const left = spawnSync("docker", ["ps", "-aq", "--filter", "label=webstack.measure"], { encoding: "utf8", env: { ...process.env, DOCKER_HOST: `unix://${SOCKET}` } });
    expect(left.stdout.trim()).toBe("");
  });

  test("the next synth reads it: nodes for the target, the measured memory, and the capacity answer", () => {
    const knee = file.runs[0].steps.filter((s) => s.errors === 0 && s.p99Ms <= 300).sort((a, b) => b.rps - a.rps)[0];
    const perProcess = perProcessOf(file);
    const targetRps = Math.floor(perProcess * 2 * 3); // three nodes' worth
    const assumed = findingsOf((app) => buildMeasuredSite(app)).app!;
    const measured = findingsOf((app) => buildMeasuredSite(app, { measurement: out, targetRps })).app!;
    const stackOf = (app: App) => app.node.findChild("measured-site") as ReturnType<typeof buildMeasuredSite>;
    const memory = (app: App) => stackOf(app).cluster().findings.find((f) => f.ruleId === "WS-APP-MEMORY")!;
    log(`assumed: ${memory(assumed).lines[0]}; measured: ${memory(measured).lines[0]}`);
    expect(memory(assumed).lines[0]).toContain("2 processes x 200 MiB + 64 MiB master");
    expect(memory(measured).lines[0]).toContain(`2 processes x ${Math.ceil(knee.rssMiBPerProcess)} MiB (measured)`);
    const web = stackOf(measured).cluster().topology.components.find((c) => c.kind === "webTier")!;
    expect(web.settings).toMatchObject({ nodes: 3, nodesFromTarget: true });
    const [target] = capacityAnswer(stackOf(measured).cluster().topology).targets;
    log(target.summary);
    expect(target.summary).toContain(`to serve ${targetRps} req/s at p99 <= 300 ms: 3 nodes of 2 processes (measured ${perProcess} req/s per process at 2 x 2`);
  });

  test("a target that needs more database connections than usable fails synth with WS-DB-CONNECTIONS and the target in its arithmetic", () => {
    // Ten nodes' worth of the measured rate, against a database of 20 connections (17 usable).
    const targetRps = Math.floor(perProcessOf(file) * 2 * 10);
    const { error } = findingsOf((app) => buildMeasuredSite(app, { measurement: out, targetRps }, 20).cluster());
    log(error?.split("\n").slice(0, 8).join("\n"));
    expect(error).toContain("WS-DB-CONNECTIONS FAILED");
    expect(error).toContain(`measured-site/web: 10 nodes (for targetRps ${targetRps} at ${perProcessOf(file)} req/s per process) x 2 processes`);
  });
});

/** The knee's rate per process, as the library computes it. */
function perProcessOf(file: MeasurementFile): number {
  const knee = file.runs[0].steps.filter((s) => s.errors === 0 && s.p99Ms <= file.latencyObjectiveMs).sort((a, b) => b.rps - a.rps)[0];
  return Math.round((knee.rps / file.runs[0].processes) * 10) / 10;
}
