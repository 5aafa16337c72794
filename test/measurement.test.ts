import * as fs from "node:fs";
import { BudgetError, Database, LoadBalancer, PropsError, WebTier, findKnee, renderMeasurementFile, measurementFileSchema } from "../lib";
import { capacityAnswer } from "../lib/core/capacity";
import { measuredRate } from "../lib/core/measurement";
import { IMAGE, WSGI, measurementFile, newStack } from "./helpers";

// [connections, rps, p99 ms, errors, rss MiB per process]: the knee is 8 connections, 160 req/s.
const STEPS = [[2, 60, 12, 0, 88], [4, 120, 25, 0, 90], [8, 160, 180, 0, 93], [16, 170, 420, 0, 95], [32, 150, 900, 3, 97]] as const;
const step = (rps: number, p99Ms: number, errors = 0) => ({ connections: 1, requests: 100, errors, rps, p50Ms: 1, p99Ms, rssMiBPerProcess: 50 });

function failureOf(stack: { cluster(): unknown }): string {
  try {
    stack.cluster();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected the stack to fail its budget");
}

describe("findKnee", () => {
  test("takes the highest rate with no error and p99 within the objective", () => {
    expect(findKnee([step(10, 50), step(30, 250), step(40, 310), step(45, 100, 1)], 300)?.rps).toBe(30);
  });
  test("is undefined when no step meets the objective", () => {
    expect(findKnee([step(10, 400), step(20, 100, 2)], 300)).toBeUndefined();
  });
});

describe("measurement file", () => {
  test("is written deterministically and reads back as written", () => {
    const file = measurementFile("test/web", STEPS);
    const text = fs.readFileSync(file, "utf8");
    const parsed = measurementFileSchema.parse(JSON.parse(text));
    expect(renderMeasurementFile(parsed)).toBe(text);
    expect(text.endsWith("}\n")).toBe(true);
  });

  test("a tier with other threads per process than measured is refused", () => {
    const parsed = measurementFileSchema.parse(JSON.parse(fs.readFileSync(measurementFile("test/web", STEPS), "utf8")));
    expect(measuredRate("web.json", parsed, { processes: 8, threads: 4 })).toContain("measured only at processes x threads 8 x 2");
    expect(measuredRate("web.json", parsed, { processes: 8, threads: 2 })).toMatchObject({ rpsPerProcess: 20, rssMiBPerProcess: 93, kneeP99Ms: 180 });
  });
});

describe("a web tier with a measurement", () => {
  const build = (web: Record<string, unknown>, maxConnections = 100) => {
    const stack = newStack();
    const db = new Database(stack, "db", { maxConnections });
    const tier = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, measurement: measurementFile("test/web", STEPS), ...web });
    new LoadBalancer(stack, "lb", { defaultTarget: tier });
    return { stack, tier };
  };

  test("nodes left unset follow from targetRps at the measured rate per process", () => {
    // 20 req/s per process x 8 processes = 160 per node: 500 req/s needs 4 nodes.
    const { tier } = build({ targetRps: 500 });
    expect(tier.settings.nodes).toBe(4);
    expect(tier.settings.nodesFromTarget).toBe(true);
  });

  test("explicit nodes win, and WS-WEB-TARGET fails when they cannot serve the target", () => {
    const { stack } = build({ targetRps: 500, nodes: 2 });
    expect(() => stack.cluster()).toThrow(BudgetError);
    const message = failureOf(stack);
    expect(message).toContain("[test/web] WS-WEB-TARGET FAILED");
    expect(message).toContain("web target rate: 500 > 320 req/s");
    expect(message).toContain("2 nodes x 8 processes x 20 req/s = 320 req/s");
    expect(message).toContain("fix: raise nodes of test/web to at least 4");
  });

  test("the measured resident memory replaces the assumed one in the memory rule and the container limit", () => {
    const assumed = (() => {
      const stack = newStack();
      const w = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
      new LoadBalancer(stack, "lb", { defaultTarget: w });
      return stack.cluster().findings.find((x) => x.ruleId === "WS-APP-MEMORY")!;
    })();
    const { stack } = build({});
    const f = stack.cluster().findings.find((x) => x.ruleId === "WS-APP-MEMORY")!;
    expect(assumed.lines[0]).toBe("8 processes x 200 MiB + 64 MiB master = 1.63 GiB");
    expect(f.lines[0]).toBe("8 processes x 93 MiB (measured) + 64 MiB master = 808 MiB");
    expect(f.limit).toBeLessThan(assumed.limit);
  });

  test("a target that needs more database connections than usable fails WS-DB-CONNECTIONS with the target in the arithmetic", () => {
    const { stack } = build({ targetRps: 1000 }, 100);
    const message = failureOf(stack);
    expect(message).toContain("WS-DB-CONNECTIONS FAILED");
    expect(message).toContain("test/web: 7 nodes (for targetRps 1000 at 20 req/s per process) x 8 processes");
  });

  test("the capacity answer gives the nodes the target needs and the database it then uses", () => {
    const { stack } = build({ targetRps: 500 }, 200);
    const [target] = capacityAnswer(stack.cluster().topology).targets;
    expect(target.summary).toMatch(/^to serve 500 req\/s at p99 <= 300 ms: 4 nodes of 8 processes \(measured 20 req\/s per process at 8 x 2, 93 MiB each, 2026-11-30T03:00:00Z\); database test\/db \d+ of 197 usable connections/);
    expect(target.blockedBy).toEqual([]);
  });

  test("without a measurement the capacity answer says the sizes are assumptions", () => {
    const stack = newStack();
    const w = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, targetRps: 300 });
    new LoadBalancer(stack, "lb", { defaultTarget: w });
    const [target] = capacityAnswer(stack.cluster().topology).targets;
    expect(target).toMatchObject({ measured: false });
    expect(target.summary).toContain("are assumptions. Measure: npx cdktf-webstack measure --tier test/web");
  });

  test.each([
    ["a missing file", () => "/nonexistent/web.json", "measurement: /nonexistent/web.json cannot be read (ENOENT)"],
    ["another tier's file", () => measurementFile("shop/api", STEPS), "measured the tier shop/api, not test/web"],
    ["another server's file", () => measurementFile("test/web", STEPS, { server: "gunicorn" }), "measured gunicorn, and this tier runs uwsgi"],
    ["no step within the objective", () => measurementFile("test/web", STEPS, { objectiveMs: 5 }), "no step of the 8 x 2 run met p99 <= 5 ms"],
  ])("%s is a PropsError on the field", (_name, file, message) => {
    const stack = newStack();
    let error: unknown;
    try {
      new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, measurement: file() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PropsError);
    expect((error as Error).message).toContain("test/web");
    expect((error as Error).message).toContain(message);
  });
});
