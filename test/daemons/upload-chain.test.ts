/**
 * The timeout chain of an upload route, with the real daemons: HAProxy -> nginx -> uWSGI or
 * gunicorn, one sandbox, loopback addresses. A client may pause mid-body as long as the route's
 * clientPauseSeconds says (past uWSGI's default 4 s socket-timeout and HAProxy's 10 s http-request
 * timeout), one that pauses longer is cut; and the app server's timeout (harakiri) bounds the
 * app's time once the body is in, however large the body.
 */
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { parseSlowUpload, slowUploadArgv, slowUploadBoundMs, type SlowUploadOptions, type SlowUploadResult } from "../slow-upload";
import { HAPROXY_PORT, withChain } from "./chain";
import { containersOf, testWith, type Container, type Sandbox } from "./harness";

const PAUSE_LIMIT = 22;
const HARAKIRI = 3;

function uploadSite(server: "uwsgi" | "gunicorn"): Container[] {
  return containersOf((scope) => {
    const stack = new WebStack(scope, `up-${server}`, { subnet: "127.78.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0 });
    const web = new WebTier(stack, "web", {
      nodes: 1,
      server,
      image: "webstack-example-app:0.1",
      wsgiModule: "webstack_example.wsgi:application",
      processes: 2,
      threads: 3,
      requestTimeoutSeconds: HARAKIRI,
      uploadRoutes: [{ path: "/upload/stream", maxBodySize: "10m", clientPauseSeconds: PAUSE_LIMIT }],
      database: db,
    });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

async function upload(box: Sandbox, o: Omit<SlowUploadOptions, "host">): Promise<SlowUploadResult> {
  const opts = { host: "127.0.0.1", ...o };
  const r = await box.exec(slowUploadArgv(opts), { timeoutMs: slowUploadBoundMs(opts) });
  return parseSlowUpload(r.stdout, r.stderr);
}

/** The app read the whole body the client sent. */
function readAll(r: SlowUploadResult, bytes: number): void {
  expect({ status: r.status, cutAfter: r.cutAfter }).toEqual({ status: 200, cutAfter: null });
  const body = JSON.parse(r.body);
  expect(body.bytes).toBe(bytes);
  expect(body.sha256).toBe(r.sentSha256);
}

for (const server of ["uwsgi", "gunicorn"] as const) {
  describe(`an upload route's pause limit, ${server}`, () => {
    const it = testWith([server, "nginx", "haproxy", "curl", "python3", "unshare", "nsenter", "ip"]);
    it(`pauses of 6 s (nginx) and 20 s (HAProxy) within ${PAUSE_LIMIT} s pass; one of ${PAUSE_LIMIT + 5} s is cut near ${PAUSE_LIMIT} s`, async () => {
      await withChain("upload", uploadSite(server), async (box) => {
        const bytes = 256 * 1024;
        // Side by side (processes x threads = 6 at once): the whole test takes the longest pause.
        const [viaNginx, viaHaproxy, tooLong, tooLongViaHaproxy] = await Promise.all([
          // Past uWSGI's default socket-timeout (4 s), and past harakiri (3 s): a slow body is not the app's time.
          upload(box, { port: 80, path: "/upload/stream", bytes, pauseSeconds: 6 }),
          // Past HAProxy's `timeout http-request` (10 s: it bounds the headers only), and past the 18 s
          // timeout server the tier's harakiri alone gives (3 + 5 + 10): the pause lengthens it to 27 s.
          upload(box, { port: HAPROXY_PORT, path: "/upload/stream", bytes, pauseSeconds: 20 }),
          upload(box, { port: 80, path: "/upload/stream", bytes, pauseSeconds: PAUSE_LIMIT + 5 }),
          upload(box, { port: HAPROXY_PORT, path: "/upload/stream", bytes, pauseSeconds: PAUSE_LIMIT + 5 }),
        ]);
        try {
          readAll(viaNginx, bytes);
          readAll(viaHaproxy, bytes);
          for (const cut of [tooLong, tooLongViaHaproxy]) {
            // nginx's client_body_timeout of the location cuts it (a bare close; HAProxy then answers 502): never a 200.
            expect(cut.status).not.toBe(200);
            expect(cut.cutAfter).not.toBeNull();
            expect(cut.cutAfter!).toBeGreaterThanOrEqual(PAUSE_LIMIT - 0.5);
            expect(cut.cutAfter!).toBeLessThan(PAUSE_LIMIT + 3);
          }
        } catch (e) {
          throw new Error(`${(e as Error).message}\n--- clients ---\n${JSON.stringify({ viaNginx, viaHaproxy, tooLong, tooLongViaHaproxy }, null, 1)}`);
        }
        // The app server did not cut first: the pause past the limit ends at nginx, not in uWSGI's body read.
        expect(box.log()).not.toMatch(/\[uwsgi-body-read\] Timeout/);
      });
    }, 120_000);
  });
}

describe("HAProxy 2.6: timeout server cuts a client's pause mid-body, timeout client does not (why only the first is derived past the pause)", () => {
  const it = testWith(["uwsgi", "nginx", "haproxy", "curl", "python3", "unshare", "nsenter", "ip"]);
  const fiveSeconds = (pattern: RegExp) => (cfg: string) => {
    expect(cfg).toMatch(pattern);
    return cfg.replace(new RegExp(pattern.source, "gm"), "$15000ms");
  };
  it("timeout server of 5 s cuts an 8 s pause at 5 s (termination state sH)", async () => {
    await withChain("upload", uploadSite("uwsgi"), async (box) => {
      const r = await upload(box, { port: HAPROXY_PORT, path: "/upload/stream", pauseSeconds: 8 });
      expect(r.status).toBe(504);
      expect(r.cutAfter!).toBeGreaterThanOrEqual(4.5);
      expect(r.cutAfter!).toBeLessThan(7);
      expect((await box.sh("cat /tmp/haproxy.log")).stdout).toMatch(/ 504 \d+ sH-- [^\n]*"POST \/upload\/stream/);
    }, fiveSeconds(/^(\s*timeout server )\d+ms$/m));
  }, 120_000);
  it("timeout client of 5 s lets an 8 s pause through", async () => {
    await withChain("upload", uploadSite("uwsgi"), async (box) => {
      readAll(await upload(box, { port: HAPROXY_PORT, path: "/upload/stream", pauseSeconds: 8 }), 262144);
    }, fiveSeconds(/^(\s*timeout client )\d+ms$/m));
  }, 120_000);
});

describe("harakiri bounds the app's time after the body, however large the body (uWSGI post-buffering)", () => {
  const it = testWith(["uwsgi", "nginx", "haproxy", "curl", "python3", "unshare", "nsenter", "ip"]);
  it(`a 1 MiB POST held ${HARAKIRI * 2} s by the app is killed at harakiri ${HARAKIRI} s, buffered and streamed`, async () => {
    await withChain("upload", uploadSite("uwsgi"), async (box) => {
      const bytes = 1024 * 1024;
      const hold = HARAKIRI * 2; // past harakiri, within nginx's read timeout (harakiri + 5)
      readAll(await upload(box, { port: 80, path: "/upload?hold=0", bytes, pauseSeconds: 0 }), bytes);
      const [buffered, streamed] = await Promise.all([
        upload(box, { port: 80, path: `/upload?hold=${hold}`, bytes, pauseSeconds: 0 }),
        upload(box, { port: 80, path: `/upload/stream?hold=${hold}`, bytes, pauseSeconds: 0 }),
      ]);
      for (const r of [buffered, streamed]) {
        // The worker is killed mid-request: nginx answers 502 (upstream closed), before the hold ends.
        expect(r.status).toBe(502);
        expect(r.elapsed).toBeLessThan(hold);
      }
      expect(box.log()).toMatch(/HARAKIRI ON WORKER/);
    });
  }, 120_000);
});
