/**
 * The log formats, as the daemons write them: one request through the rendered HAProxy -> nginx ->
 * uWSGI or gunicorn chain leaves one line in each log, in the documented format (README, "Follow one
 * request through the logs"), every line with the same request id and its timings. PostgreSQL's and
 * Celery's lines are checked where those daemons run (postgres.test.ts, celery.test.ts).
 */
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { HAPROXY_PORT, withChain } from "./chain";
import { containersOf, testWith, type Sandbox } from "./harness";

const it = testWith(["haproxy", "nginx", "uwsgi", "gunicorn", "curl", "unshare", "nsenter", "ip"]);

const site = (server: "uwsgi" | "gunicorn") =>
  containersOf((scope) => {
    const stack = new WebStack(scope, `logs-${server}`, { subnet: "127.79.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0 });
    const web = new WebTier(stack, "web", { nodes: 1, server, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", processes: 2, threads: 2, database: db });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });

// Each daemon's line, field by field, as its format (HAPROXY_LOG_FORMAT, NGINX_LOG_FORMAT,
// UWSGI_LOG_FORMAT, GUNICORN_ACCESS_LOG_FORMAT) writes it for GET /ping; `id` is the request id.
const num = String.raw`(-?\d+)`;
const HAPROXY_LINE = new RegExp(
  String.raw`^[\d.]+:\d+ \[[^\]]+\] http_in \S+/web-1 ${num}/${num}/${num}/${num}/${num} 200 \d+ -{4} \d+/\d+/\d+/\d+/\d+ \d+/\d+ "GET /ping HTTP/1\.1" request_id=(?<id>\S+)$`,
);
const NGINX_LINE =
  /^[\d.]+ - \[[^\]]+\] "GET \/ping HTTP\/1\.1" 200 \d+ "[^"]*" "[^"]*" "[^"]*" request_id=(?<id>\S+) request_time=(?<total>\d+\.\d{3}) upstream_response_time=(?<upstream>\d+\.\d{3}) session=demo-session-0001 user=demo-user-0001$/;
const APP_SERVER_LINE = {
  uwsgi: /^[\d.]+ GET \/ping 200 \d+ (?<ms>\d+)ms pid=\d+ request_id=(?<id>\S+)$/,
  // gunicorn's %(p) is the pid in angle brackets.
  gunicorn: /^[\d.]+ "GET \/ping HTTP\/1\.1" 200 \d+ (?<ms>\d+)ms pid=<\d+> request_id=(?<id>\S+)$/,
};
/** The example app's own line (not a rendered format): what a user's app should log. */
const APP_LINE = /^request_id=(?<id>\S+) method=GET path=\/ping status=200 ms=\d+\.\d pid=\d+$/;

async function lines(box: Sandbox): Promise<Record<"haproxy" | "nginx" | "appServer", string[]>> {
  const cat = async (file: string) => (await box.sh(`cat ${file}`)).stdout.split("\n");
  return { haproxy: await cat("/tmp/haproxy.log"), nginx: await cat("/tmp/nginx.log"), appServer: box.log().split("\n") };
}

describe("one request's lines in the HAProxy, nginx, app server and app logs, in the rendered formats", () => {
  for (const server of ["uwsgi", "gunicorn"] as const) {
    it(`${server}: a client's X-Request-ID and one HAProxy makes are each in one line of every log, with the timings`, async () => {
      await withChain("logs", site(server), async (box) => {
        const chosen = `daemon-logs-${process.pid}`;
        const get = async (headers: string[]) => {
          const r = await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "--max-time", "5", ...headers, `http://127.0.0.1:${HAPROXY_PORT}/ping`]);
          return /^x-request-id: (\S+)\r?$/im.exec(r.stdout)?.[1];
        };
        expect(await get(["-H", `X-Request-ID: ${chosen}`])).toBe(chosen);
        const made = await get([]);
        expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/); // HAProxy's unique-id-format, uuid()
        for (const id of [chosen, made!]) {
          const mine = (l: string) => l.includes(`request_id=${id} `) || l.endsWith(`request_id=${id}`);
          let found = await lines(box);
          // nginx writes its buffer at least once a second; HAProxy logs a request when it ends.
          await box.waitFor(`the lines of ${id}`, async () => {
            found = await lines(box);
            return found.haproxy.some(mine) && found.nginx.some(mine) && found.appServer.filter(mine).length === 2;
          }, 5_000);
          const one = (ls: string[], re: RegExp) => {
            const matching = ls.filter(mine);
            expect(matching.filter((l) => re.test(l))).toEqual(matching.slice(0, 1));
            return re.exec(matching[0])!.groups!;
          };
          const h = one(found.haproxy, HAPROXY_LINE);
          expect(h.id).toBe(id);
          const timers = HAPROXY_LINE.exec(found.haproxy.find(mine)!)!.slice(1, 6).map(Number); // TR/Tw/Tc/Tr/Ta
          for (const t of timers) expect(t).toBeGreaterThanOrEqual(0);
          const n = one(found.nginx, NGINX_LINE);
          expect(Number(n.upstream)).toBeLessThanOrEqual(Number(n.total));
          // HAProxy's total (ms) holds nginx's (s, to the ms).
          expect(timers[4] + 1).toBeGreaterThanOrEqual(Number(n.total) * 1000);
          const appServerLines = found.appServer.filter(mine);
          const a = APP_SERVER_LINE[server].exec(appServerLines.find((l) => APP_SERVER_LINE[server].test(l)) ?? "")?.groups;
          expect(a?.id).toBe(id);
          // The app server's time is within nginx's wait for it (whole ms against ms).
          expect(Number(a!.ms)).toBeLessThanOrEqual(Number(n.upstream) * 1000 + 1);
          expect(appServerLines.find((l) => APP_LINE.test(l))).toBeDefined();
        }
      });
    });
  }
});
