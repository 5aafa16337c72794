/**
 * End-to-end negative control: the suite catches a broken render at the step that shows it.
 *
 * examples/small-site is synthesized; in a COPY of its cdk.tf.json only web-1-nginx's uploaded
 * /etc/nginx/nginx.conf is changed: the upstream `server <web-1-app address>:8000;` becomes `:8001`
 * (nothing listens there). The copy is applied, then:
 *  - waitHealthy with a 60 s bound does NOT succeed, and the only container that is not healthy is
 *    small-site-web-1-nginx (its own health check, GET /ping through nginx, gets a 502);
 *  - nginx's own error log names the cause: `connect() failed (111: Connection refused) while
 *    connecting to upstream` with the broken port;
 *  - HAProxy marks web-1 DOWN and requests through the load balancer (127.0.0.1:8080) are still
 *    served, by web-2: the cluster degrades instead of failing.
 * Destroyed in afterAll, also after a failure. All traffic to 127.0.0.1; every loop is bounded.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { apply, generateVariables, waitHealthy } from "./applier";
import { demux, request } from "./docker-api";
import { figure, req, sleep } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";

const LB_PORT = 8080; // small-site's LoadBalancer httpPort
const HEALTH_BOUND_MS = 60_000;
const BROKEN = "small-site-web-1-nginx";
const log = (...a: unknown[]) => process.stdout.write(`[e2e broken-render] ${a.join(" ")}\n`);

/** Every log line of a container (stdout and stderr) since sinceMs. */
async function logText(name: string, sinceMs: number): Promise<string> {
  const r = await request("GET", `/containers/${encodeURIComponent(name)}/logs?stdout=1&stderr=1&since=${Math.floor(sinceMs / 1000) - 1}`);
  if (r.status !== 200) throw new Error(`logs of ${name}: ${r.status} ${r.body.toString()}`);
  return demux(r.body).combined;
}

type Block = Record<string, unknown>;
interface Upload {
  file: string;
  content: string;
}

describeE2e("e2e: a deliberately broken render (web-1 nginx upstream on a wrong port) is caught", () => {
  const session = newSession();
  let brokenJson = "";
  let appAddress = "";
  let applyStart = 0;

  beforeAll(async () => {
    await openSession(session, "small-site", log);
    const tfJson = session.tfJson;

    // The copy: only web-1-nginx's nginx.conf changes, and only its upstream port.
    const original = fs.readFileSync(tfJson, "utf8");
    const doc = JSON.parse(original) as { resource: { docker_container: Record<string, Block> } };
    const containers = Object.values(doc.resource.docker_container);
    const byName = (n: string) => {
      const c = containers.find((x) => x.name === n);
      if (!c) throw new Error(`no container ${n} in ${tfJson}`);
      return c;
    };
    const addr = (n: string) => String((byName(n).networks_advanced as Array<{ ipv4_address: string }>)[0].ipv4_address);
    appAddress = addr("small-site-web-1-app");
    const conf = (byName(BROKEN).upload as Upload[]).find((u) => u.file === "/etc/nginx/nginx.conf");
    if (!conf) throw new Error(`${BROKEN} uploads no /etc/nginx/nginx.conf`);
    const good = `server ${appAddress}:8000;`;
    const occurrences = conf.content.split(good).length - 1;
    // Asserted in the first test; an apply of an unchanged copy would prove nothing.
    if (occurrences !== 1) throw new Error(`expected exactly one "${good}" in ${BROKEN}'s nginx.conf, found ${occurrences}:\n${conf.content}`);
    conf.content = conf.content.replace(good, `server ${appAddress}:8001;`);
    brokenJson = path.join(session.outdir, "broken.cdk.tf.json");
    fs.writeFileSync(brokenJson, JSON.stringify(doc, null, 2));
  });

  afterAll(() => closeSession(session, log));

  test("the copy differs from the synthesized cdk.tf.json only in web-1-nginx's nginx.conf upstream port", () => {
    const original = JSON.parse(fs.readFileSync(session.tfJson, "utf8")) as { resource: { docker_container: Record<string, Block> } };
    const broken = JSON.parse(fs.readFileSync(brokenJson, "utf8")) as typeof original;
    const diffs: string[] = [];
    const walk = (a: unknown, b: unknown, where: string) => {
      if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
        const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
        for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}/${k}`);
      } else if (a !== b) diffs.push(where);
    };
    walk(original, broken, "");
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatch(/^\/resource\/docker_container\/[^/]+\/upload\/\d+\/content$/);
    const [, , , key, , i] = diffs[0].split("/");
    expect(original.resource.docker_container[key].name).toBe(BROKEN);
    const before = ((original.resource.docker_container[key].upload as Upload[])[Number(i)]).content.split("\n");
    const after = ((broken.resource.docker_container[key].upload as Upload[])[Number(i)]).content.split("\n");
    expect((broken.resource.docker_container[key].upload as Upload[])[Number(i)].file).toBe("/etc/nginx/nginx.conf");
    const changed = before.map((l, n) => [l, after[n]]).filter(([a, b]) => a !== b);
    log(`changed line: ${JSON.stringify(changed)}`);
    expect(changed).toEqual([[`        server ${appAddress}:8000;`, `        server ${appAddress}:8001;`]]);
  });

  test("applied: only small-site-web-1-nginx fails its health check within 60 s", async () => {
    applyStart = Date.now();
    session.handle = await apply(brokenJson, generateVariables(brokenJson), { replaceLeftovers: true });
    const handle = session.handle;
    log(`applied ${handle.containers.length} containers in ${handle.applyMs} ms`);
    // The render itself is valid for the engine: the apply succeeds and nginx starts (nginx -t passes).
    // Bounded: give the health check time to go from starting to unhealthy (start_period 10 s,
    // interval 10 s, retries 3 = about 40 s), never longer than HEALTH_BOUND_MS in all.
    const health = await waitHealthy(handle, HEALTH_BOUND_MS);
    log(`after ${(health.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(health.status)}`);
    log(`details of the unhealthy:\n${health.details}`);
    expect(health.ok).toBe(false);
    const notHealthy = Object.entries(health.status).filter(([, s]) => s !== "running/healthy");
    expect(notHealthy).toEqual([[BROKEN, "running/unhealthy"]]);
    expect(Object.keys(health.status).sort()).toEqual(handle.containers.map((c) => c.name).sort());
    expect(health.details).toContain(`=== ${BROKEN} `);
    // elapsedMs counts from the apply's start; waitHealthy ran for the whole bound (not healthy).
    figure("broken_render_not_healthy_after_seconds", (health.elapsedMs / 1000).toFixed(1));
  });

  test("nginx's own log names the cause: connection refused by the upstream on the wrong port", async () => {
    expect(session.handle).toBeDefined();
    const text = await logText(BROKEN, applyStart);
    const lines = text.split("\n").filter((l) => l.includes("connect() failed"));
    log(`nginx error lines: ${lines.length}; first: ${lines[0] ?? "(none)"}`);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toContain("connect() failed (111: Connection refused) while connecting to upstream");
    expect(lines[0]).toContain(`upstream: "http://${appAddress}:8001/`);
    // And web-2's nginx, rendered correctly, has no such line.
    expect(await logText("small-site-web-2-nginx", applyStart)).not.toContain("connect() failed");
  });

  test("the cluster degrades: HAProxy marks web-1 DOWN, web-2 serves every request through 127.0.0.1:8080", async () => {
    expect(session.handle).toBeDefined();
    const lbLog = await logText("small-site-lb", applyStart);
    const down = lbLog.split("\n").find((l) => /Server app\/web-1 is DOWN/.test(l));
    log(`HAProxy: ${down ?? "(no DOWN line)"}`);
    expect(down).toBeDefined();
    expect(lbLog).not.toMatch(/Server app\/web-2 is DOWN/);

    // Up to 10 requests, each with its own X-Request-ID, at most ~25 s in all.
    const since = Date.now() - 1000;
    const ids: string[] = [];
    const statuses: number[] = [];
    const deadline = Date.now() + 25_000;
    for (let i = 0; i < 10 && Date.now() < deadline; i++) {
      const id = `e2e-broken-${randomBytes(6).toString("hex")}`;
      const r = await req(LB_PORT, "GET", "/ping", { "X-Request-ID": id }).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
      statuses.push(r.status);
      if (r.status === 200) {
        expect(r.body.trim()).toBe("pong");
        ids.push(id);
      } else await sleep(1000);
      if (ids.length >= 6) break;
    }
    log(`GET /ping via 127.0.0.1:${LB_PORT}: statuses ${JSON.stringify(statuses)}`);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(ids.length).toBe(6);

    // Which node served them: the request id in the nginx access logs (polled for at most ~5 s).
    // HAProxy logs a request when it ends; poll all three logs at most 20 x 250 ms.
    let web1 = "";
    let web2 = "";
    let lb = "";
    for (let i = 0; i < 20; i++) {
      [web1, web2, lb] = await Promise.all([logText(BROKEN, since), logText("small-site-web-2-nginx", since), logText("small-site-lb", since)]);
      if (ids.every((id) => web2.includes(`request_id=${id} `) && lb.includes(`request_id=${id}`))) break;
      await sleep(250);
    }
    const onWeb2 = ids.filter((id) => web2.includes(`request_id=${id} `));
    const onWeb1 = ids.filter((id) => web1.includes(`request_id=${id}`));
    figure("broken_render_requests_served_by_web2", `${onWeb2.length}/${ids.length}`);
    expect(onWeb1).toEqual([]);
    expect(onWeb2).toEqual(ids);
    // HAProxy's own lines say the same: backend app, server web-2.
    const lbLines = ids.map((id) => lb.split("\n").find((l) => l.includes(`request_id=${id}`)) ?? `(no HAProxy line for ${id})`);
    log(`HAProxy: ${lbLines[0]}`);
    for (const l of lbLines) expect(l).toMatch(/ app\/web-2 .* 200 /);
  });
});
