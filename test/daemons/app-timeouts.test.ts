/**
 * What the app server's own timeout (requestTimeoutSeconds) bounds, with the real daemons behind
 * nginx; WS-TIMEOUT-CHAIN and WS-UPLOAD-PAUSE model these facts. uWSGI 2.0's harakiri is one timer
 * per process (any thread finishing a request clears it); gunicorn's `timeout` is a heartbeat of
 * the worker's main loop: a sync worker (one thread) is killed when one request, body included,
 * outlasts it, a gthread worker never for a long request.
 */
import * as path from "node:path";
import { Budgets, Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { parseSlowUpload, slowUploadArgv, slowUploadBoundMs, type SlowUploadOptions, type SlowUploadResult } from "../slow-upload";
import { Sandbox, container, containersOf, sleep, testWith } from "./harness";

const APP_DIR = path.resolve(__dirname, "../../examples/app");
const TIMEOUT = 3;
const HOLD = 6; // past the app's timeout, within nginx's read timeout (TIMEOUT + 5)

async function withNode(server: "uwsgi" | "gunicorn", threads: number, fn: (box: Sandbox) => Promise<void>): Promise<void> {
  const cs = containersOf((scope) => {
    const stack = new WebStack(scope, `to-${server}-${threads}`, { subnet: "127.79.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0 });
    const web = new WebTier(stack, "web", {
      nodes: 1, server, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application",
      processes: 1, threads, requestTimeoutSeconds: TIMEOUT, database: db,
      uploadRoutes: [{ path: "/upload/stream", maxBodySize: "1m", clientPauseSeconds: 12 }],
    });
    const lb = new LoadBalancer(stack, "lb", { defaultTarget: web });
    // The sync worker below is the case WS-UPLOAD-PAUSE refuses: rendered anyway, to show why.
    if (server === "gunicorn" && threads === 1) Budgets.of(lb).acknowledge("WS-UPLOAD-PAUSE", "the daemon test of why the rule refuses it");
    return stack;
  });
  const app = container(cs, "web-1-app");
  const ngx = container(cs, "web-1-nginx");
  const box = new Sandbox(`to-${server}`, {
    files: [...app.files, ...ngx.files],
    copies: { [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example", [path.join(APP_DIR, "static")]: "/srv/static" },
    setup: "chown -R nobody:nogroup /srv/app",
  });
  try {
    await box.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app", PYTHONUNBUFFERED: "1" }, cwd: "/srv/app" });
    expect((await box.sh(`${ngx.command.map((a) => `'${a}'`).join(" ")} >/tmp/nginx.log 2>&1 &`)).code).toBe(0);
    await box.waitFor("nginx /ping", async () => (await box.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "http://127.0.0.1/ping"])).stdout === "200");
    await fn(box);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- app server log ---\n${box.log()}`);
  } finally {
    await box.stop();
  }
}

async function post(box: Sandbox, o: Omit<SlowUploadOptions, "host" | "port">): Promise<SlowUploadResult> {
  const opts = { host: "127.0.0.1", port: 80, ...o };
  const r = await box.exec(slowUploadArgv(opts), { timeoutMs: slowUploadBoundMs(opts) });
  return parseSlowUpload(r.stdout, r.stderr);
}

/** Pings through nginx every 0.7 s for `ms`: requests other threads finish meanwhile. */
async function otherRequests(box: Sandbox, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await box.exec(["curl", "-s", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1/ping"]);
    await sleep(700);
  }
}

const killed = (r: SlowUploadResult) => {
  expect(r.status).toBe(502); // nginx: the upstream closed mid-request
  expect(r.elapsed).toBeLessThan(HOLD);
};

describe("uWSGI 2.0: harakiri is one timer per process", () => {
  const it = testWith(["uwsgi", "nginx", "curl", "python3", "unshare", "nsenter", "ip"]);
  it(`2 threads: a request held ${HOLD} s is killed at harakiri ${TIMEOUT} s alone, and finishes (200) while the other thread finishes requests`, async () => {
    await withNode("uwsgi", 2, async (box) => {
      killed(await post(box, { path: `/upload?hold=${HOLD}`, bytes: 10, pauseSeconds: 0 }));
      await sleep(2000); // the master respawns the worker
      const [held] = await Promise.all([post(box, { path: `/upload?hold=${HOLD}`, bytes: 10, pauseSeconds: 0 }), sleep(500).then(() => otherRequests(box, HOLD * 1000))]);
      expect(held.status).toBe(200);
    });
  }, 120_000);
});

describe("gunicorn 20: timeout is the worker's heartbeat", () => {
  const it = testWith(["gunicorn", "nginx", "curl", "python3", "unshare", "nsenter", "ip"]);
  it(`sync worker (threads 1): a request held ${HOLD} s, or a body paused ${HOLD} s, is killed at timeout ${TIMEOUT} s`, async () => {
    await withNode("gunicorn", 1, async (box) => {
      killed(await post(box, { path: `/upload?hold=${HOLD}`, bytes: 10, pauseSeconds: 0 }));
      await box.waitFor("worker back", async () => (await box.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "http://127.0.0.1/ping"])).stdout === "200", 30_000);
      // On a streamed route the pause reaches the worker: killed mid-body, though nginx would wait 12 s.
      killed(await post(box, { path: "/upload/stream", pauseSeconds: HOLD }));
      expect(box.log()).toMatch(/WORKER TIMEOUT/);
    });
  }, 120_000);
  it(`gthread worker (threads 2): a request held ${HOLD} s under timeout ${TIMEOUT} s finishes (200)`, async () => {
    await withNode("gunicorn", 2, async (box) => {
      const r = await post(box, { path: `/upload?hold=${HOLD}`, bytes: 10, pauseSeconds: 0 });
      expect(r.status).toBe(200);
      expect(r.elapsed).toBeGreaterThanOrEqual(HOLD);
    });
  }, 120_000);
});
