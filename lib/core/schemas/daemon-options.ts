/**
 * Escape hatches of the app servers: `uwsgiOptions` and `gunicornOptions`, options of the daemon the
 * library has no prop for (uWSGI `mount`, `reload-on-rss`, gunicorn `limit_request_line`...).
 *
 * An extra option must never change what a budget counts behind its back. So a key is refused when
 * the renderer's table already sets it (the tables in render/appserver.ts are the one list; a new
 * rendered setting is refused here with no edit), when it is another name for such a key, or when it
 * changes what the budgets count without being rendered (more concurrency per process, more
 * processes, another config file). The error names the prop to set instead.
 */
import { z } from "zod";
import { GUNICORN_SETTINGS, UWSGI_SETTINGS, type AppServerConfig, type AppServerSetting } from "../render/appserver";

/** The web tier prop each renderer input comes from, as the user spells it. */
const PROP_OF: Readonly<Record<keyof AppServerConfig, string | undefined>> = {
  wsgiModule: "wsgiModule",
  port: "appPort",
  processes: "processes",
  threads: "threads",
  maxRequests: "maxRequests",
  timeoutSeconds: "requestTimeoutSeconds",
  listenBacklog: "listenBacklog",
  maxBodyBytes: "clientMaxBodySize or uploadRoutes[].maxBodySize",
  plugins: "uwsgiPlugins",
  bufferSize: "uwsgiBufferSize",
  statsPort: undefined, // the health check and exporters read it
  forwardedAllowIps: undefined, // always the node's own nginx
  extraOptions: undefined,
};

/**
 * uWSGI's other names for keys of its table: `uwsgi --help` lists each with the same description
 * (`-p|--processes`, `-p|--workers`). The daemon suite checks this list against the installed uWSGI.
 */
export const UWSGI_ALIASES: Readonly<Record<string, string>> = {
  workers: "processes",
  wsgi: "module",
  plugin: "plugins",
  "uwsgi-socket": "socket",
  "stats-server": "stats",
  logformat: "log-format",
};

/** uWSGI options that change what the budgets count although the library never renders them. */
export const UWSGI_BUDGET_KEYS: Readonly<Record<string, string>> = {
  async: "runs several requests per thread (async cores), more than processes x threads hold connections",
  gevent: "runs many requests per process, more than processes x threads hold connections",
  greenlet: "runs several requests per thread, more than processes x threads hold connections",
  ugreen: "runs several requests per thread, more than processes x threads hold connections",
  coroae: "runs several requests per thread, more than processes x threads hold connections",
  http: "starts an HTTP router process beside the workers, which the memory budget does not count",
  https: "starts an HTTPS router process beside the workers, which the memory budget does not count",
  mules: "starts mule processes beside the workers, which the memory budget does not count",
  mule: "starts mule processes beside the workers, which the memory budget does not count",
  "spooler-processes": "starts spooler processes beside the workers, which the memory budget does not count",
  "attach-daemon": "starts other processes in the container, which the memory budget does not count",
  "smart-attach-daemon": "starts other processes in the container, which the memory budget does not count",
  ini: "reads another config file, whose options nothing checks",
  include: "reads another config file, whose options nothing checks",
  inherit: "reads another config file, whose options nothing checks",
  json: "reads another config file, whose options nothing checks",
  yaml: "reads another config file, whose options nothing checks",
  xml: "reads another config file, whose options nothing checks",
  config: "reads another config file, whose options nothing checks",
};

/** gunicorn settings that are not rendered but would bypass a budget or stop the server. */
export const GUNICORN_BUDGET_KEYS: Readonly<Record<string, string>> = {
  config: "reads another config file, whose settings nothing checks",
  raw_env: "sets environment variables around environment's checks (DATABASE_URL, pool sizes)",
  daemon: "detaches gunicorn, and the container ends with its first process",
  check_config: "makes gunicorn exit after checking its config, never serving",
  print_config: "makes gunicorn exit after printing its config, never serving",
};

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const text = z.string().refine((s) => !CONTROL.test(s), "must be one line without control characters (a newline would add an option of its own)");
const optionValue = z.union([z.boolean(), z.number().finite(), text, z.array(text).min(1)]);

function owner(setting: AppServerSetting, file: string, key: string, name: string): string {
  const prop = setting.from ? PROP_OF[setting.from] : undefined;
  if (prop) return `${name === key ? "" : `an alias of ${key}, which `}${file} sets from the prop ${prop}, which the budgets and the rendered files follow; set ${prop} instead`;
  const why = setting.comment ? ` (${setting.comment})` : "";
  return `${name === key ? "" : `an alias of ${key}, which `}${file} sets itself${why}; the library relies on its value, so it cannot be overridden`;
}

/** Refusal message for an option name, or undefined when it may be set. */
function refusal(table: Readonly<Record<string, AppServerSetting>>, file: string, aliases: Readonly<Record<string, string>>, budgetKeys: Readonly<Record<string, string>>, name: string): string | undefined {
  const key = Object.hasOwn(table, name) ? name : Object.hasOwn(aliases, name) ? aliases[name] : undefined;
  if (key !== undefined) return owner(table[key], file, key, name);
  if (Object.hasOwn(budgetKeys, name)) return `${budgetKeys[name]}; it cannot be an extra option`;
  return undefined;
}

function optionsSchema(keyPattern: RegExp, keyHint: string, check: (name: string) => string | undefined) {
  return z.record(z.string(), optionValue).superRefine((opts, ctx) => {
    for (const name of Object.keys(opts)) {
      // Reported on the record, not under the name: a bad name may hold a newline.
      if (!keyPattern.test(name)) ctx.addIssue({ code: "custom", path: [], message: `${JSON.stringify(name)} ${keyHint}` });
      const problem = keyPattern.test(name) ? check(name) : undefined;
      if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
    }
  });
}

/** uWSGI options as in uwsgi.ini, e.g. `{ "reload-on-rss": 512, mount: ["/api=rest.wsgi:app"] }`. */
export const uwsgiOptionsSchema = optionsSchema(/^[a-z0-9][a-z0-9-]*$/, "is not a uWSGI option name like 'reload-on-rss'", (name) =>
  refusal(UWSGI_SETTINGS, "uwsgi.ini", UWSGI_ALIASES, UWSGI_BUDGET_KEYS, name),
);

/** gunicorn settings as in gunicorn.conf.py, e.g. `{ limit_request_line: 8190 }`. */
export const gunicornOptionsSchema = optionsSchema(/^[a-z][a-z0-9_]*$/, "is not a gunicorn setting name like 'limit_request_line'", (name) =>
  refusal(GUNICORN_SETTINGS, "gunicorn.conf.py", {}, GUNICORN_BUDGET_KEYS, name),
);
