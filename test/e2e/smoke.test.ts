/**
 * End-to-end smoke test: synthesizes examples/small-site, deploys the exact cdk.tf.json onto the
 * suite's private Docker engine with the test applier, waits until every container is healthy,
 * sends one request to /ping and one to /hits?write=1 through the load balancer on 127.0.0.1, and
 * destroys everything. Needs root, docker.io and debootstrap; with CI=true anything missing FAILS.
 *
 * Images are local stand-ins built from Debian packages (test/e2e/images/); elasticsearch:7.17.25
 * is a STUB (python3 http.server), not Elasticsearch.
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
  ensureImages,
  fmtProblem,
  generateVariables,
  imagesOf,
  inspect,
  missingPrerequisites,
  releaseSuiteLock,
  startEngine,
  stopEngine,
  templateProblems,
  waitHealthy,
  type Handle,
} from "./applier";
import { call, request } from "./docker-api";
import { hclTemplateErrors } from "./terraform-templates";

const ROOT = path.resolve(__dirname, "../..");
const HTTP_PORT = 8080; // small-site's LoadBalancer httpPort
const log = (...a: unknown[]) => process.stdout.write(`[e2e] ${a.join(" ")}\n`);

/** Set by test/e2e/setup-e2e.js: only `jest -c test/e2e/jest.config.js` runs this suite, not the root config. */
const IN_E2E_RUN = process.env.WEBSTACK_E2E_SUITE === "1";
const gone = IN_E2E_RUN ? missingPrerequisites() : [];
if (!IN_E2E_RUN) log("e2e suite SKIPPED: it runs only with jest -c test/e2e/jest.config.js (npm run test:e2e)");
else if (gone.length && !CI) log(`SKIPPED locally, missing: ${gone.join(", ")}`);
const maybe = !IN_E2E_RUN || (gone.length && !CI) ? describe.skip : describe;

/** GET on 127.0.0.1 only. */
function get(urlPath: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: HTTP_PORT, path: urlPath, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath}: timeout`)));
    req.on("error", reject);
  });
}

/** A few tries over at most ~15 s: HAProxy may still be counting a backend's rise checks. */
async function getSettled(urlPath: string, want: number): Promise<{ status: number; body: string; tries: number }> {
  let last: { status: number; body: string } = { status: 0, body: "" };
  for (let tries = 1; tries <= 8; tries++) {
    try {
      last = await get(urlPath);
      if (last.status === want) return { ...last, tries };
    } catch (e) {
      last = { status: 0, body: String(e) };
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  return { ...last, tries: 8 };
}

maybe("e2e: examples/small-site on a real Docker engine", () => {
  let outdir = "";
  let tfJson = "";
  let handle: Handle | undefined;
  let engineStarted = false;

  beforeAll(async () => {
    if (gone.length) throw new Error(`missing: ${gone.join(", ")} (CI=true: the e2e suite never skips; install docker.io and debootstrap, run as root)`);
    await acquireSuiteLock();
  });

  beforeAll(() => {
    if (gone.length) throw new Error(`missing: ${gone.join(", ")} (CI=true: the e2e suite never skips; install docker.io and debootstrap, run as root)`);
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-synth-"));
    const synth = spawnSync("npx", ["tsx", "examples/small-site/main.ts"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, CDKTF_OUTDIR: outdir },
      timeout: 120_000,
    });
    if (synth.status !== 0) throw new Error(`synth of examples/small-site failed (${synth.status}):\n${synth.stdout}${synth.stderr}`);
    tfJson = path.join(outdir, "stacks", "small-site", "cdk.tf.json");
    if (!fs.existsSync(tfJson)) throw new Error(`synth wrote no ${tfJson}`);

    const t0 = Date.now();
    log(startEngine().trim());
    engineStarted = true;
    log(`engine ready in ${Date.now() - t0} ms`);
    const t1 = Date.now();
    const images = imagesOf(tfJson);
    log(ensureImages(images).trim().replace(/\n/g, "\n[e2e] "));
    log(`images ${images.join(", ")} ready in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    if (handle) await destroy(handle).catch((e) => log(`destroy in afterAll failed: ${e}`));
    if (engineStarted && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") log(stopEngine().trim());
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
    releaseSuiteLock();
  });

  test("every string in cdk.tf.json is a valid Terraform template (no stray ${...} or %{...})", async () => {
    const ours = templateProblems(tfJson);
    const hcl = await hclTemplateErrors(tfJson);
    if (ours.length) {
      log(`template problems (Terraform reads \${ and %{ in every string):\n  ${ours.map(fmtProblem).join("\n  ")}`);
    }
    if (hcl.length) log(`HCL parser (hclsyntax via @cdktf/hcl2json) says:\n  ${hcl.join("\n  ")}`);
    expect({ templateProblems: ours.map(fmtProblem), hclParserErrors: hcl }).toEqual({ templateProblems: [], hclParserErrors: [] });
  });

  test("applies, becomes healthy, serves /ping and /hits?write=1 via 127.0.0.1, destroys", async () => {
    const variables = generateVariables(tfJson);
    expect(Object.keys(variables).length).toBeGreaterThan(0);
    for (const v of Object.values(variables)) expect(v).toMatch(/^[A-Za-z0-9_-]{16,}$/);

    // Strict templates, as Terraform: a stray ${...}/%{...} fails here too (the test above lists them all).
    handle = await apply(tfJson, variables, { replaceLeftovers: true });
    log(`applied ${handle.containers.length} containers, ${handle.volumes.length} volumes, ${handle.networks.length} network(s) in ${handle.applyMs} ms`);

    const health = await waitHealthy(handle, 240_000);
    log(`health after ${(health.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(health.status)}`);
    log(`first healthy at (ms since apply start): ${JSON.stringify(health.healthyAtMs)}`);
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");
    expect(health.ok).toBe(true);
    log(`small-site healthy ${(health.elapsedMs / 1000).toFixed(1)} s after apply started`);

    // What was deployed is what the JSON says: spot checks through the engine.
    const lb = await inspect("small-site-lb");
    expect(lb.NetworkSettings.Networks["small-site-net"].IPAddress).toBe("172.31.3.10");
    expect(lb.Config.Labels["webstack.role"]).toBe("haproxy");

    const ping = await getSettled("/ping", 200);
    log(`GET http://127.0.0.1:${HTTP_PORT}/ping -> ${ping.status} ${JSON.stringify(ping.body.trim())} (tries: ${ping.tries})`);
    expect(ping.status).toBe(200);
    expect(ping.body.trim()).toBe("pong");

    const hits = await getSettled("/hits?write=1", 201);
    log(`GET http://127.0.0.1:${HTTP_PORT}/hits?write=1 -> ${hits.status} ${hits.body.trim()} (tries: ${hits.tries})`);
    expect(hits.status).toBe(201);
    const body = JSON.parse(hits.body) as { id: number; role: string };
    expect(body.role).toBe("primary");
    expect(body.id).toBeGreaterThan(0);

    const h = handle;
    handle = undefined;
    await destroy(h);
    for (const c of h.containers) expect((await request("GET", `/containers/${c.id}/json`)).status).toBe(404);
    const nets = await call<Array<{ Name: string }>>("GET", "/networks");
    expect(nets.map((n) => n.Name)).not.toContain("small-site-net");
    const vols = await call<{ Volumes: Array<{ Name: string }> | null }>("GET", "/volumes");
    expect((vols.Volumes ?? []).map((v) => v.Name).filter((n) => n.startsWith("small-site-"))).toEqual([]);
  });

  test("elasticsearch:7.17.25 used by the suite is a labelled STUB, not Elasticsearch", async () => {
    ensureImages(["elasticsearch:7.17.25"]);
    const img = await call<{ Config: { Labels: Record<string, string> } }>("GET", "/images/elasticsearch:7.17.25/json");
    const stub = img.Config.Labels["webstack.e2e.stub"] ?? "";
    log(`NOTE: elasticsearch:7.17.25 in this suite is a STUB: ${stub}`);
    expect(stub).toMatch(/STUB/);
  });
});
