import { Testing } from "cdktf";
import { Budgets, Cache, Database, LoadBalancer, PropsError, WebTier } from "../lib";
import { IMAGE, WSGI, newStack } from "./helpers";

function built() {
  const stack = newStack();
  const db = new Database(stack, "db");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  stack.cluster();
  return { stack, db, web };
}

test("a construct created after the cluster is built is refused, not silently left out", () => {
  const { stack } = built();
  expect(() => new Cache(stack, "late")).toThrow(PropsError);
  expect(() => new Cache(stack, "late2")).toThrow(/\[test\/late2\] invalid props:\n {2}- created after test was synthesized: it would be missing from the output/);
});

test("rewiring or acknowledging after the build is refused", () => {
  const { stack, web } = built();
  expect(() => web.connect({ cache: undefined })).toThrow(/connect\(\) called after test was synthesized/);
  expect(() => Budgets.of(stack.node.findChild("db")).acknowledge("WS-DB-CONNECTIONS", "too late for this one")).toThrow(/acknowledge\("WS-DB-CONNECTIONS"\) called after test was synthesized/);
});

test("Testing.synth builds the cluster through the same single hook, once", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const json = JSON.parse(Testing.synth(stack));
  expect(Object.keys(json.resource.docker_container).sort()).toEqual(["container-lb", "container-web-1-app", "container-web-1-nginx", "container-web-2-app", "container-web-2-nginx"]);
  expect(stack.cluster()).toBe(stack.cluster());
  expect(JSON.parse(Testing.synth(stack))).toEqual(json);
});

test("wiring added with connect() before synth is seen", () => {
  const stack = newStack();
  const cache = new Cache(stack, "cache");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  web.connect({ cache });
  const app = stack.cluster().plan.containers.find((c) => c.key === "web-1-app")!;
  expect(app.env.CACHE_URL).toMatch(/^redis:\/\//);
  expect(stack.cluster().topology.components.find((c) => c.path === "test/web")).toMatchObject({ cache: { path: "test/cache", kind: "cache" } });
});
