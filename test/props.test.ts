import { Cache, Database, LoadBalancer, PropsError, Queue, WebTier, WorkerTier } from "../lib";
import { IMAGE, WSGI, newStack } from "./helpers";

const propsError = (fn: () => unknown): PropsError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PropsError);
    return e as PropsError;
  }
  throw new Error("expected a PropsError");
};

test("an unknown enum value names the path, the field and the allowed values", () => {
  const stack = newStack();
  const e = propsError(() => new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, server: "waitress" as never }));
  expect(e.message).toContain("[test/web] invalid props:");
  expect(e.message).toMatch(/server: .*"uwsgi".*"gunicorn"/);
});

test("numbers out of range and unknown fields are rejected", () => {
  const stack = newStack();
  const e = propsError(() => new Database(stack, "db", { maxConnections: 0, replicas: -1, maxConections: 5 } as never));
  expect(e.problems.some((p) => p.startsWith("maxConnections:"))).toBe(true);
  expect(e.problems.some((p) => p.startsWith("replicas:"))).toBe(true);
  expect(e.message).toMatch(/maxConections/);
});

test("an upload route's pause limit is whole seconds from 1 to 3600, named by its place", () => {
  const web = (clientPauseSeconds: number) => () =>
    new WebTier(newStack(), "web", { image: IMAGE, wsgiModule: WSGI, uploadRoutes: [{ path: "/up", maxBodySize: "1g", clientPauseSeconds }] });
  for (const bad of [0, 2.5, 7200]) expect(propsError(web(bad)).problems.some((p) => p.startsWith("uploadRoutes.0.clientPauseSeconds:"))).toBe(true);
  expect(web(3600)).not.toThrow();
});

test("missing required fields are named", () => {
  const stack = newStack();
  const e = propsError(() => new WebTier(stack, "web", {} as never));
  expect(e.message).toContain("image:");
  expect(e.message).toContain("wsgiModule:");
});

test("HTTPS needs exactly one certificate source", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  const e = propsError(() => new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: "a.pem", certificateVariable: "cert" } }));
  expect(e.message).toContain("https: set exactly one of certificateFile and certificateVariable");
});

test("a worker tier without a queue, and a reference of the wrong kind, are rejected", () => {
  const stack = newStack();
  const cache = new Cache(stack, "cache");
  expect(propsError(() => new WorkerTier(stack, "w", { image: IMAGE, celeryApp: "x" })).message).toContain("queue: a WorkerTier needs a Queue");
  expect(propsError(() => new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: cache as never })).message).toContain("database: expected a Database construct");
});

test("a reference from another stack is rejected", () => {
  const other = new Queue(newStack({}, "other"), "mq");
  const stack = newStack();
  expect(propsError(() => new WorkerTier(stack, "w", { image: IMAGE, celeryApp: "x", queue: other })).message).toContain("belongs to another stack");
});

test("ids must make valid Docker names", () => {
  expect(propsError(() => new Cache(newStack(), "My_Cache")).message).toContain("id 'My_Cache'");
});

test("a bad route path and duplicate backend names are rejected", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  expect(propsError(() => new LoadBalancer(stack, "lb", { defaultTarget: web, routes: [{ pathPrefix: "static", target: web }] })).message).toContain("routes.0.pathPrefix");
  expect(propsError(() => new LoadBalancer(stack, "lb2", { defaultTarget: web, routes: [{ name: "app", pathPrefix: "/x", target: web }] })).message).toContain("'app' is used twice");
});

test("a bad subnet is rejected by the stack", () => {
  expect(propsError(() => newStack({ subnet: "10.0.0.0/8" })).message).toContain("subnet:");
});
