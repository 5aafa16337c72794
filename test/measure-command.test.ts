import { App } from "cdktf";
import { buildSmallSiteStack } from "../examples/small-site/stack";
import { measureSubset } from "../lib/core/measure-subset";
import { parseWrk, wrkScript } from "../lib/measure/load";
import { connectionSteps } from "../lib/measure/run";

// wrk 4.1's report of a 2 s run against a local server that answered 4 of 7 requests with 404.
const WRK_REPORT = `Running 2s test @ http://127.0.0.1:18765
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   447.08ms  561.68ms   1.16s    71.43%
    Req/Sec     4.00      2.65     7.00     66.67%
  Latency Distribution
     50%   20.51ms
     75%    1.15s 
     90%    1.16s 
     99%    1.16s 
  7 requests in 2.11s, 4.31MB read
  Non-2xx or 3xx responses: 4
Requests/sec:      3.31
Transfer/sec:      2.04MB
`;

test("wrk's report is read with its units, and non-2xx responses count as errors", () => {
  expect(parseWrk(WRK_REPORT, 2)).toEqual({ connections: 2, requests: 7, errors: 4, rps: 3.3, p50Ms: 20.51, p99Ms: 1160 });
  expect(parseWrk(WRK_REPORT.replace("  Non-2xx or 3xx responses: 4\n", "  Socket errors: connect 0, read 2, write 0, timeout 1\n"), 2).errors).toBe(3);
  expect(() => parseWrk("connection refused", 1)).toThrow("wrk: unexpected report");
});

test("the request mix cycles through the paths by weight, with the site's Host", () => {
  const script = wrkScript([{ path: "/ping", weight: 1 }, { path: "/", weight: 2 }], "www.example.com");
  expect(script).toContain('wrk.headers["Host"] = "www.example.com"');
  expect(script).toContain('local paths = { "/ping", "/", "/" }');
});

test("connections double from 1 up to the maximum", () => {
  expect(connectionSteps(24)).toEqual([1, 2, 4, 8, 16, 24]);
  expect(connectionSteps(1)).toEqual([1]);
});

describe("what measure deploys for a tier", () => {
  const stack = buildSmallSiteStack(new App({ outdir: require("node:os").tmpdir() }));
  const { topology, plan } = stack.cluster();
  const subset = measureSubset(topology, plan, "web")!;

  test("one node with the services it needs, each after its dependencies, no load balancer and no second node", () => {
    const keys = subset.containers.map((c) => c.key);
    expect(keys.indexOf("web-1-app")).toBeLessThan(keys.indexOf("web-1-nginx"));
    expect(keys).toContain("db-primary");
    // The synchronous standby confirms the primary's commits: without it writes would hang.
    expect(keys).toContain("db-replica-1");
    expect(keys.indexOf("db-primary")).toBeLessThan(keys.indexOf("web-1-app"));
    expect(keys.some((k) => k.startsWith("web-2") || k === "lb")).toBe(false);
    for (const c of subset.containers) for (const d of c.dependsOn) expect(keys.indexOf(d)).toBeLessThan(keys.indexOf(c.key));
  });

  test("load goes to the node's nginx with the health check's Host, and its secrets are the ones those containers use", () => {
    const nginx = plan.containers.find((c) => c.key === "web-1-nginx")!;
    expect(subset.nginx).toEqual({ key: "web-1-nginx", address: nginx.address, port: nginx.listens[0].port });
    expect(subset.host).toBe(topology.components.find((c) => c.kind === "loadBalancer")!.settings.siteHost ?? "localhost");
    expect(subset.secrets.length).toBeGreaterThan(0);
    expect(subset.secrets.every((s) => plan.secrets.includes(s))).toBe(true);
  });

  test("a tier the stack does not have gives nothing", () => {
    expect(measureSubset(topology, plan, "api")).toBeUndefined();
  });
});
