/**
 * End-to-end smoke test: synthesizes examples/small-site, deploys the exact cdk.tf.json onto the
 * suite's private Docker engine with the test applier, waits until every container is healthy,
 * sends one request to /ping and one to /hits?write=1 through the load balancer on 127.0.0.1, and
 * destroys everything. Needs root, docker.io and debootstrap; with CI=true anything missing FAILS.
 *
 * Images are local stand-ins built from Debian packages (test/e2e/images/); elasticsearch:7.17.25
 * is a STUB (python3 http.server), not Elasticsearch.
 */
import { apply, destroy, ensureImages, fmtProblem, generateVariables, inspect, templateProblems, waitHealthy } from "./applier";
import { call, request } from "./docker-api";
import { req, sleep } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";
import { hclTemplateErrors } from "./terraform-templates";

const HTTP_PORT = 8080; // small-site's LoadBalancer httpPort
const log = (...a: unknown[]) => process.stdout.write(`[e2e] ${a.join(" ")}\n`);

/** A few tries over at most ~15 s: HAProxy may still be counting a backend's rise checks. */
async function getSettled(urlPath: string, want: number): Promise<{ status: number; body: string; tries: number }> {
  let last: { status: number; body: string } = { status: 0, body: "" };
  for (let tries = 1; tries <= 8; tries++) {
    last = await req(HTTP_PORT, "GET", urlPath).catch((e: Error) => ({ status: 0, body: String(e) }));
    if (last.status === want) return { ...last, tries };
    await sleep(2000);
  }
  return { ...last, tries: 8 };
}

describeE2e("e2e: examples/small-site on a real Docker engine", () => {
  const session = newSession();
  beforeAll(() => openSession(session, "small-site", log));
  afterAll(() => closeSession(session, log));

  test("every string in cdk.tf.json is a valid Terraform template (no stray ${...} or %{...})", async () => {
    const ours = templateProblems(session.tfJson);
    const hcl = await hclTemplateErrors(session.tfJson);
    if (ours.length) {
      log(`template problems (Terraform reads \${ and %{ in every string):\n  ${ours.map(fmtProblem).join("\n  ")}`);
    }
    if (hcl.length) log(`HCL parser (hclsyntax via @cdktf/hcl2json) says:\n  ${hcl.join("\n  ")}`);
    expect({ templateProblems: ours.map(fmtProblem), hclParserErrors: hcl }).toEqual({ templateProblems: [], hclParserErrors: [] });
  });

  test("applies, becomes healthy, serves /ping and /hits?write=1 via 127.0.0.1, destroys", async () => {
    const variables = generateVariables(session.tfJson);
    expect(Object.keys(variables).length).toBeGreaterThan(0);
    for (const v of Object.values(variables)) expect(v).toMatch(/^[A-Za-z0-9_-]{16,}$/);

    // Strict templates, as Terraform: a stray ${...}/%{...} fails here too (the test above lists them all).
    session.handle = await apply(session.tfJson, variables, { replaceLeftovers: true });
    const handle = session.handle;
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

    const h = session.handle!;
    session.handle = undefined;
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
