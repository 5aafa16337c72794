/**
 * The swarm target on a real three-node Docker Swarm (test/e2e/swarm.sh: three dockerd, each in its own
 * network namespace, three managers). Synthesizes a stack for the three hosts, applies the exact
 * cdk.tf.json through the manager with the test applier (each service waits for convergence: all its
 * replicas running and healthy), sends a bounded number of requests through the load balancer's
 * host-mode port from the swarm's bridge namespace, and counts in each node's nginx logs where they
 * were served. The scenario bodies are in swarm-scenarios.ts. Everything is removed in afterAll, also
 * after a failure; the host's iptables are compared before and after.
 */
import { App } from "cdktf";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { apply, destroy, generateVariables, type Handle } from "./applier";
import { serviceTasks } from "./apply-swarm";
import { call, demux, request, useSocket } from "./docker-api";
import { describeE2e } from "./session";
import { SwarmSession } from "./swarm-session";
import { HTTP_PORT, REQUESTS, ROLES, buildStack, curl, drainScenario, killScenario, log, nodeSocket, releaseRanFirst, rollScenario } from "./swarm-scenarios";


describeE2e("e2e: the swarm target on a real three-node swarm", () => {
  let outdir = "";
  let handle: Handle | undefined;
  const session = new SwarmSession(log);
  /** The node the suite talks to (another one once a host was killed). */
  let manager = 1;

  beforeAll(async () => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-swarm-"));
    const app = new App({ outdir });
    buildStack(app);
    app.synth();
    await session.up(ROLES, ["webstack-example-app:0.1", "postgres:15", "redis:7.0", "nginx:1.22", "haproxy:2.6"]);
  }, 25 * 60_000);

  afterAll(async () => {
    useSocket(nodeSocket(manager));
    if (handle) await destroy(handle).catch((e) => log(`destroy failed: ${e}`));
    useSocket();
    const iptables = session.down();
    if (outdir) fs.rmSync(outdir, { recursive: true, force: true });
    // Compared only when taken (a run that never got the suite lock touched nothing).
    if (iptables.before) expect(iptables.after).toBe(iptables.before);
  });

  test("every service converges healthy, the release step first; requests through the load balancer are served by web replicas on at least two hosts", async () => {
    const tfJson = path.join(outdir, "stacks", "swarm-shop", "cdk.tf.json");
    useSocket(nodeSocket(1));
    const t0 = Date.now();
    handle = await apply(tfJson, generateVariables(tfJson));
    log(`applied ${handle.swarm!.services.length} services, ${handle.swarm!.configs.length} configs, ${handle.swarm!.secrets.length} secrets; all converged in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const release = await releaseRanFirst(handle);
    log(`release task log:\n${release.log}\nweb-app created ${release.createdAfterMs} ms after the release task became healthy; hits on the primary before any request: ${release.hits}`);
    expect(release.log).toContain("release: hits table ready");
    expect(release.log).toMatch(/release: done$/);
    expect(release.createdAfterMs).toBeGreaterThanOrEqual(0);
    expect(release.hits).toBe(0); // the table exists (-1 when not), empty

    const nodes = await call<Array<{ ID: string; Status: { Addr: string } }>>("GET", "/nodes");
    const addr = new Map(nodes.map((n) => [n.ID, n.Status.Addr]));
    const placement: Record<string, string[]> = {};
    for (const s of handle.swarm!.services) placement[s.name] = (await serviceTasks(s.id)).map((t) => `${addr.get(t.NodeID)}:${t.Status.State}`);
    log(`tasks: ${JSON.stringify(placement)}`);
    const lbAt = placement["swarm-shop-lb"][0].split(":")[0];

    let ok = 0;
    const statuses: Record<number, number> = {};
    for (let i = 0; i < REQUESTS; i++) {
      const r = curl(`http://${lbAt}:${HTTP_PORT}/hits?write=1`);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 201) ok++;
    }
    log(`${REQUESTS} requests to http://${lbAt}:${HTTP_PORT}/hits?write=1: ${JSON.stringify(statuses)}`);

    // Where they were served: the nginx access log of each node's web-nginx tasks (nginx flushes it every second).
    await new Promise((r) => setTimeout(r, 2500));
    const servedOn: Record<string, number> = {};
    for (const n of [1, 2, 3]) {
      useSocket(nodeSocket(n));
      const filter = encodeURIComponent(JSON.stringify({ label: ["com.docker.swarm.service.name=swarm-shop-web-nginx"] }));
      const cs = await call<Array<{ Id: string }>>("GET", `/containers/json?filters=${filter}`);
      let count = 0;
      for (const c of cs) {
        const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1`);
        count += demux(res.body).combined.split("\n").filter((l) => l.includes("GET /hits?write=1")).length;
      }
      servedOn[`n${n}`] = count;
    }
    useSocket(nodeSocket(1));
    log(`served per host (nginx access log lines): ${JSON.stringify(servedOn)}`);
    expect(ok).toBe(REQUESTS);
    expect(Object.values(servedOn).reduce((a, b) => a + b, 0)).toBe(REQUESTS);
    expect(Object.values(servedOn).filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
  });

  test("draining a host under bounded load moves its tasks, at most 1 % of requests fail, and what landed fits the hosts", async () => {
    expect(handle).toBeDefined();
    const r = await drainScenario(handle!);
    expect(r.movedMs).toBeGreaterThan(0);
    expect(r.overMax).toEqual([]);
    for (const m of r.reservedMiB) expect(m).toBeLessThanOrEqual(6144);
    expect(r.total).toBeGreaterThan(100);
    expect(r.failed / r.total).toBeLessThanOrEqual(0.01);
  });

  // The issue asks that no request fails: none may fail, be retried at the load balancer or take over
  // wrk's 10 s (a timeout counts as failed). Before uWSGI's no-threads-wait, app replicas whose workers
  // were recycling (max-requests) held requests for up to a minute, and once rolled the update back.
  test("a changed nginx.conf (a new config, as a re-apply makes it) rolls the nginx replicas one at a time, start-first; no request fails or is retried at the load balancer", async () => {
    expect(handle).toBeDefined();
    // Each replica: started, healthy, then watched for update_config.monitor (40 s) before the next one.
    const r = await rollScenario(handle!, 150);
    expect(r.state).toBe("completed");
    expect(r.maxDesired).toBeLessThanOrEqual(4); // parallelism 1: one new task beside the 3 old ones
    expect(r.minRunning).toBeGreaterThanOrEqual(3); // start-first: the old one stops once the new one is healthy
    expect(r.running).toBe(3);
    expect(r.total).toBeGreaterThan(10_000);
    expect(r.proxied).toEqual([]);
    expect(r.failed).toBe(0);
  });

  test("killing a host's dockerd, containerd and containers: its web tasks run again on the others within 90 s, the primary keeps its rows", async () => {
    expect(handle).toBeDefined();
    const r = await killScenario(handle!);
    manager = r.manager;
    expect(r.backMs).toBeGreaterThan(0);
    expect(r.after).toBe(r.before);
    expect(r.before).toBeGreaterThanOrEqual(REQUESTS);
  });
});
