/**
 * The stats exporter on the real daemons: the rendered script, run by Debian's python3 as nobody in a
 * sandbox of its own at its model address, probes a real uWSGI 2.0.21 (the rendered uwsgi.ini with the
 * example app) and a real memcached 1.6 (the rendered arguments) at theirs, as Prometheus' uwsgi and
 * memcached jobs ask it. promtool checks the text it serves; the values are the daemons' own: the
 * workers and request slots uwsgi.ini asks for, a request counted, a worker held busy and its listen
 * queue filled to the backlog (what UwsgiListenQueueFull reads), memcached's limits, a hit and a miss.
 */
import { Cache, Database, LoadBalancer, Monitoring, WebStack, WebTier } from "../../lib";
import { Sandbox, confValue, container, containersOf, fileIn, link, testWith, type Container } from "./harness";
import { appCopies } from "./web-pair";

const it = testWith(["uwsgi", "memcached", "python3", "promtool", "curl", "unshare", "nsenter", "ip"]);
// js-yaml 3 comes with jest's coverage tooling; the rendered files are plain YAML.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml: { safeLoad(text: string): any } = require("js-yaml");

/** One uWSGI request over the uwsgi protocol (what nginx sends): GET `path`; prints the status line. */
const UWSGI_GET = `
import socket, struct, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "t", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "t"}
body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode() for k, v in env.items())
s = socket.create_connection((host, port), 5)
s.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
print(s.recv(65536).split(b"\\r\\n")[0].decode())
`;

/**
 * Holds the one worker with a complete uwsgi packet of a POST whose body never comes (uWSGI reads bodies
 * above post-buffering before the app runs, and waits socket-timeout for them), then makes `n` more
 * requests that wait in the kernel's accept queue. Each sends its packet: uWSGI's sockets use
 * TCP_DEFER_ACCEPT, and a connection that sends nothing stays out of the queue (measured: in SYN-RECV,
 * the queue at 0). A packet cut inside its header holds the worker too, but then the stats server
 * answers an empty body (measured); nginx sends the header in one piece.
 */
const FILL_QUEUE = `
import socket, struct, sys, time
host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/upload", "QUERY_STRING": "", "CONTENT_LENGTH": "100000", "SERVER_NAME": "t", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "t"}
body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode() for k, v in env.items())
packet = struct.pack("<BHB", 0, len(body), 0) + body
busy = socket.create_connection((host, port), 5)
busy.sendall(packet + b"x" * 10)
time.sleep(1)
waiting = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((host, port))
        s.sendall(packet)
    except OSError:
        pass  # past the backlog the kernel drops the handshake: the client times out
    waiting.append(s)
time.sleep(hold)
`;

/** memcached: set k, get k (a hit), get a missing key (a miss). */
const MEMCACHED_HIT_MISS = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
for cmd in (b"set k 0 0 1\\r\\nv\\r\\n", b"get k\\r\\n", b"get missing\\r\\n"):
    s.sendall(cmd)
    buf = b""
    while not (buf.endswith(b"STORED\\r\\n") or buf.endswith(b"END\\r\\n")):
        buf += s.recv(4096)
`;

const LISTEN_BACKLOG = 4;

function stack(): Container[] {
  return containersOf((scope) => {
    const s = new WebStack(scope, "stats", { subnet: "10.97.0.0/16" });
    const db = new Database(s, "db", { replicas: 0 });
    const cache = new Cache(s, "cache", { engine: "memcached", memoryMiB: 256 });
    // One process, one thread: one held request busies the node. A pause limit makes uWSGI's socket-timeout
    // 65 s, so the held request stays for the whole test; a backlog of 4 fills with a few waiting requests.
    const web = new WebTier(s, "web", {
      nodes: 1,
      processes: 1,
      threads: 1,
      listenBacklog: LISTEN_BACKLOG,
      uploadRoutes: [{ path: "/upload", maxBodySize: "10m", clientPauseSeconds: 60 }],
      image: "webstack-example-app:0.1",
      wsgiModule: "webstack_example.wsgi:application",
      database: db,
      cache,
    });
    new LoadBalancer(s, "lb", { defaultTarget: web });
    new Monitoring(s, "monitoring");
    return s;
  });
}

/** Samples of a text-format body by `name{labels}`. */
const samples = (text: string) => new Map(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));

describe("the stats exporter reads the real uWSGI and memcached", () => {
  it("uwsgi_up 1 with the workers, slots and backlog uwsgi.ini asks for, a request counted, the listen queue at its backlog; memcached's limits, a hit and a miss; promtool accepts both", async () => {
    const cs = stack();
    const app = container(cs, "web-1-app");
    const mc = container(cs, "cache");
    const ex = container(cs, "monitoring-stats-exporter");
    const jobs = yaml.safeLoad(fileIn(container(cs, "monitoring-prometheus"), "/etc/prometheus/prometheus.yml")).scrape_configs;
    const target = (name: string) => jobs.find((j: any) => j.job_name === name).static_configs[0].targets[0] as string;
    const [uwsgiTarget, memcachedTarget] = [target("uwsgi"), target("memcached")];
    expect([uwsgiTarget, memcachedTarget]).toEqual([`${app.address}:9191`, `${mc.address}:11211`]);
    const ini = fileIn(app, "/etc/webstack/uwsgi.ini");
    const processes = Number(confValue(ini, "processes"));
    const threads = Number(confValue(ini, "threads"));
    expect(Number(confValue(ini, "listen"))).toBe(LISTEN_BACKLOG);

    // uWSGI and memcached in one sandbox, at their two model addresses; the exporter in its own.
    const node = new Sandbox("stats-node", { files: [...app.files, ...mc.files], copies: appCopies, setup: "chown -R nobody:nogroup /srv/app" });
    const exp = new Sandbox("stats-exporter", { files: ex.files });
    try {
      await node.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app", PYTHONUNBUFFERED: "1" }, cwd: "/srv/app" });
      // memcached at its own address on the node's loopback (the link's /16 route reaches it); as its container user.
      expect((await node.sh(`ip addr add ${mc.address}/32 dev lo`)).code).toBe(0);
      expect((await node.sh(`${mc.command.join(" ")} >/tmp/memcached.log 2>&1 &`, { user: mc.user ?? "memcache" })).code).toBe(0);
      await exp.start({ user: "nobody", argv: ex.command, env: ex.env });
      await link(node, `${app.address}/16`, exp, `${ex.address}/16`);
      const probe = async (module: string, t: string) => (await exp.exec(["curl", "-s", "--max-time", "8", `http://127.0.0.1:9117/probe?module=${module}&target=${t}`])).stdout;
      await exp.waitFor("uwsgi_up 1", async () => /^uwsgi_up 1$/m.test(await probe("uwsgi", uwsgiTarget)), 60_000);
      await exp.waitFor("memcached_up 1", async () => /^memcached_up 1$/m.test(await probe("memcached", memcachedTarget)), 30_000);
      expect((await exp.exec(["python3", "-c", `import urllib.request; urllib.request.urlopen("http://127.0.0.1:9117/-/healthy", timeout=4)`], { user: "nobody" })).code).toBe(0);

      // One request over the uwsgi protocol, as nginx sends it.
      const get = await node.exec(["python3", "-c", UWSGI_GET, "127.0.0.1", String(confValue(ini, "socket").split(":")[1]), "/ping"], { user: "nobody" });
      expect(get.stdout.trim()).toBe("HTTP/1.1 200 OK");
      let u = samples(await probe("uwsgi", uwsgiTarget));
      // The master fills in the sockets' queue figures on its own cycle, not at start.
      const maxKey = `uwsgi_socket_listen_queue_max{socket="0.0.0.0:${app.listens[0].port}"}`;
      await exp.waitFor("the request counted and the backlog reported", async () => {
        u = samples(await probe("uwsgi", uwsgiTarget));
        return u.get("uwsgi_requests_total")! >= 1 && u.get(maxKey)! > 0;
      }, 15_000);
      const workers = ["idle", "busy", "cheap", "pause", "sig"].reduce((n, s) => n + (u.get(`uwsgi_workers{status="${s}"}`) ?? 0), 0);
      expect({ workers, cores: u.get("uwsgi_cores"), max: u.get(maxKey), errors: u.get("uwsgi_listen_queue_errors_total"), exceptions: u.get("uwsgi_exceptions_total") }).toEqual({
        workers: processes,
        cores: processes * threads,
        max: LISTEN_BACKLOG,
        errors: 0,
        exceptions: 0,
      });

      const m = samples(await probe("memcached", memcachedTarget));
      const arg = (name: string) => Number(mc.command.find((a) => a.startsWith(`--${name}=`))!.split("=")[1]);
      expect({ max: m.get("memcached_max_connections"), limit: m.get("memcached_limit_bytes") }).toEqual({ max: arg("conn-limit"), limit: arg("memory-limit") * 1024 * 1024 });
      expect((await node.exec(["python3", "-c", MEMCACHED_HIT_MISS, "127.0.0.1", "11211"], { user: "nobody" })).code).toBe(0);
      const after = samples(await probe("memcached", memcachedTarget));
      expect([after.get('memcached_commands_total{command="get",status="hit"}'), after.get('memcached_commands_total{command="get",status="miss"}'), after.get("memcached_current_items")]).toEqual([1, 1, 1]);
      expect(after.get("memcached_current_bytes")).toBeGreaterThan(0);

      // promtool lints what Prometheus will scrape (names, types, HELP).
      for (const [module, t] of [["uwsgi", uwsgiTarget], ["memcached", memcachedTarget]]) {
        const lint = await exp.exec(["promtool", "check", "metrics"], { input: await probe(module, t) });
        expect({ module, code: lint.code, out: lint.stdout + lint.stderr }).toEqual({ module, code: 0, out: "" });
      }

      // The one worker held, more requests than the backlog waiting: uWSGI sees its queue at the backlog and
      // logs it full, and the per-socket figures UwsgiListenQueueFull reads say so; listen_queue_errors stays 0.
      const port = confValue(ini, "socket").split(":")[1];
      expect((await node.sh(`python3 -c '${FILL_QUEUE}' 127.0.0.1 ${port} ${LISTEN_BACKLOG + 2} 20 >/tmp/fill.log 2>&1 &`, { user: "nobody" })).code).toBe(0);
      const queueKey = `uwsgi_socket_listen_queue{socket="0.0.0.0:${port}"}`;
      await exp.waitFor("the listen queue at the backlog", async () => (u = samples(await probe("uwsgi", uwsgiTarget))).get(queueKey)! >= LISTEN_BACKLOG, 15_000);
      expect({ up: u.get("uwsgi_up"), busy: u.get('uwsgi_workers{status="busy"}'), slots: u.get("uwsgi_cores_busy"), max: u.get(maxKey), errors: u.get("uwsgi_listen_queue_errors_total") }).toEqual({
        up: 1,
        busy: 1,
        slots: 1,
        max: LISTEN_BACKLOG,
        errors: 0,
      });
      expect(u.get("uwsgi_listen_queue")).toBeGreaterThanOrEqual(LISTEN_BACKLOG);
      await node.waitFor("uWSGI's own 'full' line", async () => /listen queue of socket .* full/.test(node.log()), 5_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- uwsgi ---\n${node.log()}\n--- exporter ---\n${exp.log()}`);
    } finally {
      await exp.stop();
      await node.stop();
    }
  }, 180_000);

  it("promtool: the uwsgi and memcached jobs are valid configuration, and each new alert passes its unit test (fires just over, quiet just under)", async () => {
    const prometheus = container(stack(), "monitoring-prometheus");
    const rules = fileIn(prometheus, "/etc/prometheus/alerts.yml");
    for (const name of ["UwsgiListenQueue", "UwsgiListenQueueFull", "MemcachedConnectionsHigh", "MemcachedEvicting"]) expect(rules).toContain(`alert: "${name}"`);
    const box = new Sandbox("stats-promtool", { files: prometheus.files });
    try {
      await box.start();
      const config = await box.exec(["promtool", "check", "config", "/etc/prometheus/prometheus.yml"]);
      expect({ code: config.code, out: config.stdout + config.stderr }).toMatchObject({ code: 0 });
      const tests = await box.sh("cd /etc/prometheus && promtool test rules alerts.test.yml");
      expect({ code: tests.code, out: tests.stdout + tests.stderr }).toEqual({ code: 0, out: expect.stringContaining("SUCCESS") });
    } finally {
      await box.stop();
    }
  });
});
