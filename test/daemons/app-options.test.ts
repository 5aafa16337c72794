/**
 * The app servers' escape hatches, checked by the real daemons: extra options take effect, a name the
 * daemon does not know stops it at start, and the refused list covers every other name uWSGI has for
 * an option uwsgi.ini sets.
 */
import { spawnSync } from "node:child_process";
import { PropsError, UWSGI_SETTINGS, WebTier } from "../../lib";
import { UWSGI_ALIASES } from "../../lib/core/schemas/daemon-options";
import { newStack } from "../helpers";
import { confValue as confValueOf, container, fileIn, testWith } from "./harness";
import { appServerExit, curl, loopbackNode, withNode } from "./web-pair";

/** Option name -> [short flag, description], as `uwsgi --help` lists them with the python3 plugin. */
function uwsgiHelp(): Map<string, [string | undefined, string]> {
  const out = spawnSync("uwsgi", ["--plugin", "python3", "--help"], { encoding: "utf8" });
  const opts = new Map<string, [string | undefined, string]>();
  for (const line of `${out.stdout}${out.stderr}`.split("\n")) {
    const m = /^\s+(?:-(\S)\|)?--(\S+)\s+(.*)$/.exec(line);
    if (m && !opts.has(m[2])) opts.set(m[2], [m[1], m[3].trim()]);
  }
  return opts;
}

/** Whether the schema refuses `name` as an extra uWSGI option. */
function refused(name: string): boolean {
  try {
    new WebTier(newStack(), "web", { image: "x:1", wsgiModule: "a:b", uwsgiOptions: { [name]: "1" } });
    return false;
  } catch (e) {
    if (!(e instanceof PropsError)) throw e;
    return true;
  }
}

const BIG_HEADERS = ["X-A", "X-B", "X-C"].flatMap((h) => ["-H", `${h}: ${"a".repeat(6000)}`]);

describe("uwsgiOptions, checked by uWSGI", () => {
  const it = testWith(["uwsgi", "nginx", "curl", "unshare", "nsenter", "ip"]);

  it("every name uWSGI has for an option uwsgi.ini sets (same description or short flag in --help) is refused; the alias list names real aliases", async () => {
    const help = uwsgiHelp();
    expect(help.size).toBeGreaterThan(500);
    for (const key of Object.keys(UWSGI_SETTINGS)) {
      const own = help.get(key);
      if (!own) throw new Error(`uwsgi --help does not list ${key}`);
      const same = [...help].filter(([name, [flag, desc]]) => name !== key && (desc === own[1] || (own[0] !== undefined && flag === own[0]))).map(([name]) => name);
      for (const alias of same) expect([alias, refused(alias)]).toEqual([alias, true]);
    }
    for (const [alias, key] of Object.entries(UWSGI_ALIASES)) {
      const [a, k] = [help.get(alias), help.get(key)];
      expect([alias, a !== undefined && k !== undefined && (a[1] === k[1] || (k[0] !== undefined && a[0] === k[0]))]).toEqual([alias, true]);
    }
  });

  it("every option uWSGI describes as reading more config or setting options is refused, but for a few harmless ones", async () => {
    // Options that match the description below and cannot set anything the budgets read.
    const harmless: Record<string, string> = {
      blacklist: "narrows which options a context may set",
      whitelist: "narrows which options a context may set",
      "sni-dir-ciphers": "TLS ciphers of an SNI directory",
      "ssl-option": "a raw OpenSSL option number",
      "cgroup-opt": "a cgroup value, outside uWSGI's options",
      paste: "loads the app (a WSGI pipeline) from a paste.deploy file, no uWSGI option",
      pecan: "loads the app from a pecan file, no uWSGI option",
    };
    const loaders = [...uwsgiHelp()].filter(([name, [, desc]]) => /(config|option)/i.test(desc) && /\b(load|include|set|declare|template|re-exec|inject)\b/i.test(desc) && !name.startsWith("vassal") && !name.startsWith("emperor"));
    expect(loaders.length).toBeGreaterThan(10);
    for (const [name] of loaders) expect([name, refused(name) || name in harmless]).toEqual([name, true]);
  });

  it("every internal routing option uWSGI lists is refused (a route's harakiri action would replace route-run's timer)", async () => {
    const routing = [...uwsgiHelp()].filter(([, [, desc]]) => /\b(route|routing label)\b/.test(desc) && !/logger/.test(desc)).map(([name]) => name);
    expect(routing).toEqual(expect.arrayContaining(["route", "route-if", "route-run", "final-route-status", "error-route-uri"]));
    for (const name of routing) expect([name, refused(name)]).toEqual([name, true]);
    expect(refused("log-route")).toBe(false);
  });

  it("set = processes=3 would set processes around the checks: uWSGI obeys it, and the schema refuses set", async () => {
    expect(refused("set")).toBe(true);
    // What the refusal prevents, shown with the real uWSGI: the rendered file plus one `set` line.
    const cs = loopbackNode({});
    const app = container(cs, "web-1-app");
    const ini = fileIn(app, "/etc/webstack/uwsgi.ini");
    const bypass = { ...app, files: app.files.map((f) => (f.path === "/etc/webstack/uwsgi.ini" ? { ...f, content: `${ini}set = processes=3\n` } : f)) };
    await withNode([bypass, ...cs.filter((c) => c.key !== "web-1-app")], async (box) => {
      let stats: { workers: unknown[] } | undefined;
      await box.waitFor("uwsgi stats", async () => {
        const r = await curl(box, "http://127.0.0.1:9191/");
        if (r.code === "200") stats = JSON.parse(r.body);
        return stats !== undefined;
      });
      expect(confValueOf(ini, "processes")).toBe("2");
      expect(stats!.workers).toHaveLength(3);
    });
  });

  it("extra options take effect: mount + manage-script-name serve the app under /api; reload-on-rss and buffer-size are accepted by strict mode", async () => {
    const cs = loopbackNode({
      uwsgiBufferSize: 32768,
      uwsgiOptions: { "reload-on-rss": 512, mount: ["/api=webstack_example.wsgi:application"], "manage-script-name": true, "wsgi-disable-file-wrapper": true },
    });
    const ini = fileIn(container(cs, "web-1-app"), "/etc/webstack/uwsgi.ini");
    expect(ini).toContain("\nmanage-script-name = true\n");
    await withNode(cs, async (box) => {
      // PATH_INFO is /ping only when uWSGI strips the mount point; the app answers 404 to /api/ping.
      expect(await curl(box, "http://127.0.0.1/api/ping")).toMatchObject({ code: "200", body: "pong" });
      // An 18 KB header block (three lines, each within nginx's 8k header buffers) passes buffer-size 32768.
      expect((await curl(box, "http://127.0.0.1/ping", ...BIG_HEADERS)).code).toBe("200");
    });
    // With the default buffer-size (16384) uWSGI drops the same request, and nginx answers 502.
    await withNode(loopbackNode({}), async (box) => {
      expect((await curl(box, "http://127.0.0.1/ping", ...BIG_HEADERS)).code).toBe("502");
    });
  });

  it("an option uWSGI does not know stops it at start (strict mode)", async () => {
    const r = await appServerExit(loopbackNode({ uwsgiOptions: { "reload-on-rsss": 512 } }));
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.log).toContain("unknown config directive: reload-on-rsss");
  });
});

describe("gunicornOptions, checked by gunicorn", () => {
  const it = testWith(["gunicorn", "nginx", "curl", "unshare", "nsenter", "ip"]);

  it("an extra setting takes effect: limit_request_line 200 answers 400 to a longer request line", async () => {
    const cs = loopbackNode({ server: "gunicorn", gunicornOptions: { limit_request_line: 200, proc_name: "shop" } });
    await withNode(cs, async (box) => {
      expect((await curl(box, "http://127.0.0.1:8000/ping")).code).toBe("200");
      // gunicorn reports "Request Line is too large" with a 400.
      const long = await curl(box, `http://127.0.0.1:8000/ping?${"q".repeat(300)}`);
      expect(long.code).toBe("400");
      expect(long.body).toMatch(/Request Line is too large/);
    });
  });

  it("a name gunicorn does not know stops it at start (it would ignore it), and so does a bad value", async () => {
    const typo = await appServerExit(loopbackNode({ server: "gunicorn", gunicornOptions: { limit_request_lines: 200 } }));
    expect(typo.code).not.toBe(0);
    expect(typo.code).not.toBeNull();
    expect(typo.log).toContain("not gunicorn settings: limit_request_lines");
    const bad = await appServerExit(loopbackNode({ server: "gunicorn", gunicornOptions: { limit_request_line: "many" } }));
    expect(bad.code).not.toBe(0);
    expect(bad.code).not.toBeNull();
    expect(bad.log).toMatch(/limit_request_line|Invalid value/);
  });
});
