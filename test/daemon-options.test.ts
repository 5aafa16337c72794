import { GUNICORN_SETTINGS, PropsError, UWSGI_SETTINGS, WebTier, type WebTierProps } from "../lib";
import { GUNICORN_BUDGET_KEYS, UWSGI_ALIASES, UWSGI_BUDGET_KEYS } from "../lib/core/schemas/daemon-options";
import { IMAGE, WSGI, fileOf, newStack } from "./helpers";

const INI = "/etc/webstack/uwsgi.ini";
const PY = "/etc/webstack/gunicorn.conf.py";

function tier(props: Partial<WebTierProps>) {
  const stack = newStack();
  new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1, ...props });
  return stack;
}

function problems(props: Partial<WebTierProps>): string {
  try {
    tier(props);
  } catch (e) {
    expect(e).toBeInstanceOf(PropsError);
    expect((e as PropsError).message).toContain("[test/web] invalid props:");
    return (e as PropsError).problems.join("\n");
  }
  throw new Error("expected a PropsError");
}

describe("uwsgiOptions", () => {
  test("extra options render after the library's, in order; a list repeats the option", () => {
    const ini = fileOf(
      tier({ uwsgiOptions: { "reload-on-rss": 512, mount: ["/api=rest.wsgi:application", "/=ui.wsgi:application"], "manage-script-name": true, "wsgi-disable-file-wrapper": true, "socket-timeout": 30 } }),
      "web-1-app",
      INI,
    );
    expect(ini).toMatch(
      /log-format = [^\n]*\n# uwsgiOptions of the web tier; [^\n]*\nreload-on-rss = 512\nmount = \/api=rest\.wsgi:application\nmount = \/=ui\.wsgi:application\nmanage-script-name = true\nwsgi-disable-file-wrapper = true\nsocket-timeout = 30\n$/,
    );
  });

  test("every option uwsgi.ini sets is refused, naming the field as spelled and the prop to use", () => {
    const typed: Record<string, string> = { processes: "processes", threads: "threads", listen: "listenBacklog", harakiri: "requestTimeoutSeconds", "max-requests": "maxRequests", socket: "appPort", module: "wsgiModule", "buffer-size": "uwsgiBufferSize" };
    for (const key of Object.keys(UWSGI_SETTINGS)) {
      const p = problems({ uwsgiOptions: { [key]: "1" } });
      expect(p).toMatch(new RegExp(`^uwsgiOptions\\.${key}: uwsgi\\.ini sets`));
      if (typed[key]) expect(p).toContain(`set ${typed[key]} instead`);
    }
    expect(problems({ uwsgiOptions: { "post-buffering": 0 } })).toMatch(/post-buffering: uwsgi\.ini sets itself \(Bodies above 64 KiB [^)]*\); the library relies on its value/);
    expect(problems({ uwsgiOptions: { "limit-post": 0 } })).toContain("set clientMaxBodySize or uploadRoutes[].maxBodySize instead");
  });

  test("aliases of those options and options that change what the budgets count are refused too", () => {
    for (const [alias, key] of Object.entries(UWSGI_ALIASES)) {
      expect(problems({ uwsgiOptions: { [alias]: "2" } })).toMatch(new RegExp(`^uwsgiOptions\\.${alias}: an alias of ${key}, which uwsgi\\.ini sets`));
    }
    expect(problems({ uwsgiOptions: { workers: 64 } })).toContain("set processes instead");
    for (const key of Object.keys(UWSGI_BUDGET_KEYS)) expect(problems({ uwsgiOptions: { [key]: "x" } })).toMatch(new RegExp(`^uwsgiOptions\\.${key}: .*; it cannot be an extra option$`));
    expect(problems({ uwsgiOptions: { async: 100 } })).toContain("more than processes x threads hold connections");
    expect(problems({ uwsgiOptions: { include: "/etc/more.ini" } })).toContain("reads another config file");
  });

  test("a value cannot add a line, a name must be an option name", () => {
    expect(problems({ uwsgiOptions: { "reload-on-rss": "512\nprocesses = 64" } })).toMatch(/^uwsgiOptions\.reload-on-rss: must be one line/);
    expect(problems({ uwsgiOptions: { mount: ["/a=x:app", "/b=y:app\r"] } })).toMatch(/^uwsgiOptions\.mount\.1: must be one line/);
    expect(problems({ uwsgiOptions: { "processes = 64\nx": 1 } })).toContain('uwsgiOptions: "processes = 64\\nx" is not a uWSGI option name');
    expect(problems({ uwsgiOptions: { "reload-on-rss": Infinity } })).toMatch(/^uwsgiOptions\.reload-on-rss:/);
  });

  test("uwsgiBufferSize sets buffer-size; uWSGI props on a gunicorn tier are refused", () => {
    expect(fileOf(tier({ uwsgiBufferSize: 65535 }), "web-1-app", INI)).toContain("\nbuffer-size = 65535\n");
    const p = problems({ server: "gunicorn", uwsgiOptions: { "reload-on-rss": 512 }, uwsgiBufferSize: 8192 });
    expect(p).toContain("uwsgiOptions: the tier runs gunicorn (server), which does not read uwsgiOptions");
    expect(p).toContain("uwsgiBufferSize: the tier runs gunicorn (server), which does not read uwsgiBufferSize");
    expect(problems({ gunicornOptions: { limit_request_line: 8190 } })).toContain("gunicornOptions: the tier runs uwsgi (server)");
  });
});

describe("gunicornOptions", () => {
  test("extra settings render as Python literals after a check of their names against gunicorn's own", () => {
    const py = fileOf(
      tier({ server: "gunicorn", gunicornOptions: { limit_request_line: 8190, proc_name: 'site "a"', reuse_port: true, reload_extra_files: ["/a", "/b"] } }),
      "web-1-app",
      PY,
    );
    expect(py).toContain('_unknown = sorted({"limit_request_line", "proc_name", "reuse_port", "reload_extra_files"} - {s.name for s in _gunicorn_config.KNOWN_SETTINGS})\n');
    expect(py).toMatch(/\nlimit_request_line = 8190\nproc_name = "site \\"a\\""\nreuse_port = True\nreload_extra_files = \["\/a", "\/b"\]\n$/);
    expect(fileOf(tier({ server: "gunicorn" }), "web-1-app", PY)).not.toContain("KNOWN_SETTINGS");
  });

  test("every setting gunicorn.conf.py sets, and the ones that bypass a budget, are refused", () => {
    for (const key of Object.keys(GUNICORN_SETTINGS)) expect(problems({ server: "gunicorn", gunicornOptions: { [key]: 1 } })).toMatch(new RegExp(`^gunicornOptions\\.${key}: gunicorn\\.conf\\.py sets`));
    expect(problems({ server: "gunicorn", gunicornOptions: { workers: 64 } })).toContain("set processes instead");
    expect(problems({ server: "gunicorn", gunicornOptions: { worker_class: "gevent" } })).toContain("set threads instead");
    for (const key of Object.keys(GUNICORN_BUDGET_KEYS)) expect(problems({ server: "gunicorn", gunicornOptions: { [key]: "x" } })).toMatch(new RegExp(`^gunicornOptions\\.${key}: `));
    expect(problems({ server: "gunicorn", gunicornOptions: { raw_env: ["DATABASE_URL=postgres://elsewhere"] } })).toContain("around environment's checks");
    expect(problems({ server: "gunicorn", gunicornOptions: { "max-requests": 1 } })).toContain('gunicornOptions: "max-requests" is not a gunicorn setting name');
  });
});

test("environment cannot pass app server options around those checks", () => {
  expect(problems({ environment: { UWSGI_ASYNC: "100" } })).toMatch(/^environment\.UWSGI_ASYNC: uWSGI reads UWSGI_\* variables as options .*set uwsgiOptions instead/);
  expect(problems({ server: "gunicorn", environment: { GUNICORN_CMD_ARGS: "--workers 64" } })).toMatch(/^environment\.GUNICORN_CMD_ARGS: .*set gunicornOptions instead/);
  expect(() => tier({ environment: { APP_UWSGI_MODE: "1" } })).not.toThrow();
});
