import { buildInvenioStack } from "../../examples/invenio/stack";
import { buildDjangoSiteStack } from "../../examples/django-site/stack";
import { buildInvenioRdmStack } from "../../examples/invenio-rdm/stack";
import { buildSmallSiteStack } from "../../examples/small-site/stack";
import { Sandbox, confValue, container, containersOf, fileIn, testWith, type Container } from "./harness";
import { appCopies, curl, loopbackNode, withNode } from "./web-pair";

const NGINX_CONF = "/etc/nginx/nginx.conf";

/** One node of the given server and shape on a loopback subnet (web-pair.ts). */
const loopbackSite = (server: "uwsgi" | "gunicorn", processes: number, threads: number): Container[] => loopbackNode({ server, processes, threads });

describe("nginx -t accepts every rendered nginx.conf", () => {
  const it = testWith(["nginx", "unshare", "nsenter", "ip"]);
  const stacks: [string, () => Container[]][] = [
    ["invenio (uWSGI)", () => containersOf((s) => buildInvenioStack(s))],
    ["small-site (gunicorn)", () => containersOf((s) => buildSmallSiteStack(s))],
    ["django-site (gunicorn, static route, site Host)", () => containersOf((s) => buildDjangoSiteStack(s))],
    ["invenio-rdm (UI and REST pools, the file-content regex route)", () => containersOf((s) => buildInvenioRdmStack(s))],
  ];
  for (const [name, build] of stacks) {
    it(name, async () => {
      const ngx = build().filter((c) => c.role === "nginx");
      expect(ngx.length).toBeGreaterThan(0);
      for (const c of ngx) {
        expect(c.command).toEqual(expect.arrayContaining(["-c", NGINX_CONF]));
        const box = new Sandbox("nginx-t", { files: c.files, setup: "mkdir -p /srv/static" });
        try {
          await box.start();
          const r = await box.exec(["nginx", "-t", "-c", NGINX_CONF]);
          if (r.code !== 0) throw new Error(`nginx -t rejected ${c.key}:\n${r.stderr}\n--- conf ---\n${fileIn(c, NGINX_CONF)}`);
          expect(r.stderr).toMatch(/test is successful/);
          expect(r.stderr.split("\n").filter((l) => /\[(warn|emerg|alert|crit)\]/.test(l))).toEqual([]);
        } finally {
          await box.stop();
        }
      }
    });
  }
});


describe("uWSGI behind nginx", () => {
  const it = testWith(["uwsgi", "nginx", "curl", "unshare", "nsenter", "ip"]);
  it("the rendered uwsgi.ini starts the example app; /ping answers through nginx; stats show processes x threads", async () => {
    const cs = loopbackSite("uwsgi", 4, 2);
    const ini = fileIn(container(cs, "web-1-app"), "/etc/webstack/uwsgi.ini");
    const processes = Number(confValue(ini, "processes"));
    const threads = Number(confValue(ini, "threads"));
    await withNode(cs, async (box) => {
      await box.waitFor("nginx /ping = 200", async () => (await curl(box, "http://127.0.0.1/ping")).code === "200", 60_000);
      expect((await curl(box, "http://127.0.0.1/ping")).body).toBe("pong");
      expect((await curl(box, "http://127.0.0.1/static/robots.txt")).code).toBe("200");
      // nginx logs the app's identity headers but hides them from clients.
      const headers = (await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "-H", "X-Request-ID: support-ticket-42", "http://127.0.0.1/ping"])).stdout;
      // Exactly one X-Request-ID reaches the client, the one the request carried, on app and static responses alike.
      expect(headers.match(/^X-Request-ID: .*$/gim)).toEqual(["X-Request-ID: support-ticket-42"]);
      const staticHeaders = (await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "http://127.0.0.1/static/robots.txt"])).stdout;
      expect(staticHeaders).toMatch(/^X-Request-ID: [0-9a-f]{32}$/im);
      expect(headers).not.toMatch(/X-Session-ID|X-User-ID/i);
      // Stats server (stats-http) on 9191.
      let stats: any;
      await box.waitFor("uwsgi stats", async () => {
        const r = await curl(box, "http://127.0.0.1:9191/");
        if (r.code !== "200") return false;
        stats = JSON.parse(r.body);
        return true;
      });
      expect(stats.workers).toHaveLength(processes);
      for (const w of stats.workers) expect(w.cores).toHaveLength(threads);
    });
  });

  it("the invenio example's own uwsgi.ini (8 processes x 2 threads) starts and reports its workers", async () => {
    const cs = containersOf((s) => buildInvenioStack(s));
    const app = container(cs, "web-1-app");
    const box = new Sandbox("uwsgi-invenio", { files: app.files, copies: appCopies, setup: "chown -R nobody:nogroup /srv/app" });
    try {
      await box.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app" }, cwd: "/srv/app" });
      let stats: any;
      await box.waitFor("uwsgi stats", async () => {
        const r = await curl(box, "http://127.0.0.1:9191/");
        if (r.code !== "200") return false;
        stats = JSON.parse(r.body);
        return stats.workers?.length > 0;
      });
      expect(stats.workers).toHaveLength(8);
      for (const w of stats.workers) expect(w.cores).toHaveLength(2);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- uwsgi log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});

describe("gunicorn behind nginx", () => {
  const it = testWith(["gunicorn", "nginx", "curl", "unshare", "nsenter", "ip"]);
  it("the rendered gunicorn.conf.py starts the example app with `workers` processes; /ping answers direct and through nginx", async () => {
    const cs = loopbackSite("gunicorn", 3, 1);
    const conf = fileIn(container(cs, "web-1-app"), "/etc/webstack/gunicorn.conf.py");
    const workers = Number(confValue(conf, "workers"));
    await withNode(cs, async (box) => {
      await box.waitFor("gunicorn /ping", async () => (await curl(box, "http://127.0.0.1:8000/ping")).code === "200", 60_000);
      expect((await curl(box, "http://127.0.0.1/ping")).body).toBe("pong");
      expect((await curl(box, "http://127.0.0.1/static/style.css")).code).toBe("200");
      // master + workers, all running as nobody in this PID namespace.
      await box.waitFor(`${workers} gunicorn workers`, async () => {
        const r = await box.sh("pgrep -u nobody -f gunicorn | wc -l");
        return Number(r.stdout.trim()) === workers + 1;
      }, 30_000);
    });
  });
});
