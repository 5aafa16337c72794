/**
 * One web node (app server + nginx) of a loopback stack, run in one sandbox as the pair runs in the
 * stack: for tests that pass props of their own (the escape hatches, locations).
 */
import * as path from "node:path";
import { Database, LoadBalancer, WebStack, WebTier, type WebTierProps } from "../../lib";
import { Sandbox, container, containersOf, type Container } from "./harness";

const APP_DIR = path.resolve(__dirname, "../../examples/app");

/** The app image's layout: code in /srv/app (PYTHONPATH), static files shared with nginx at /srv/static. */
export const appCopies = {
  [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example",
  [path.join(APP_DIR, "static")]: "/srv/static",
};

/** A one-node stack on a loopback subnet (nginx's upstream address is local inside the sandbox). */
export function loopbackNode(props: Partial<WebTierProps>): Container[] {
  return containersOf((scope) => {
    const stack = new WebStack(scope, "lo-pair", { subnet: "127.77.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0 });
    const web = new WebTier(stack, "web", {
      nodes: 1,
      image: "webstack-example-app:0.1",
      wsgiModule: "webstack_example.wsgi:application",
      processes: 2,
      threads: 2,
      database: db,
      ...props,
    });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

export async function curl(box: Sandbox, url: string, ...args: string[]): Promise<{ code: string; body: string; headers: string }> {
  const r = await box.exec(["curl", "-s", "--max-time", "5", "-D", "/tmp/curl-headers", "-w", "\n%{http_code}", ...args, url]);
  const i = r.stdout.lastIndexOf("\n");
  const headers = (await box.exec(["cat", "/tmp/curl-headers"])).stdout;
  return { body: r.stdout.slice(0, i).trimEnd(), code: r.stdout.slice(i + 1), headers };
}

/** Runs the node's app server, then its nginx, in one sandbox; `extraSetup` runs as root first. */
export async function withNode(cs: Container[], fn: (box: Sandbox, app: Container, ngx: Container) => Promise<void>, extraSetup = ""): Promise<void> {
  const app = container(cs, "web-1-app");
  const ngx = container(cs, "web-1-nginx");
  const sysctls = Object.entries((app.sysctls as Record<string, string>) ?? {}).map(([k, v]) => `sysctl -q -w ${k}=${v}`);
  const box = new Sandbox(`web-${app.role}`, {
    files: [...app.files, ...ngx.files],
    copies: appCopies,
    setup: [...sysctls, "chown -R nobody:nogroup /srv/app", extraSetup].join("\n"),
  });
  try {
    await box.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app", PYTHONUNBUFFERED: "1" }, cwd: "/srv/app" });
    const started = await box.sh(`${ngx.command.map((a) => `'${a}'`).join(" ")} >/tmp/nginx.log 2>&1 &`);
    if (started.code !== 0) throw new Error(`nginx did not start: ${started.stderr}`);
    await box.waitFor("nginx /ping = 200", async () => (await curl(box, "http://127.0.0.1/ping")).code === "200", 60_000);
    await fn(box, app, ngx);
  } catch (e) {
    const nginxLog = (await box.sh("cat /tmp/nginx.log").catch(() => ({ stdout: "" }))).stdout;
    throw new Error(`${(e as Error).message}\n--- app server log ---\n${box.log()}\n--- nginx log ---\n${nginxLog}`);
  } finally {
    await box.stop();
  }
}

/** Starts only the app server of `cs` and returns its exit code and log once it stops (or null after `ms`). */
export async function appServerExit(cs: Container[], ms = 20_000): Promise<{ code: number | null; log: string }> {
  const app = container(cs, "web-1-app");
  const box = new Sandbox(`exit-${app.role}`, { files: app.files, copies: appCopies, setup: "chown -R nobody:nogroup /srv/app" });
  try {
    await box.start();
    const argv = app.command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    const r = await box.sh(`cd /srv/app && timeout -s KILL ${Math.ceil(ms / 1000)} ${argv} >/tmp/app.log 2>&1; echo "exit=$?"`, {
      user: "nobody",
      env: { ...app.env, PYTHONPATH: "/srv/app" },
      timeoutMs: ms + 10_000,
    });
    const code = Number(/exit=(\d+)/.exec(r.stdout)?.[1]);
    const log = (await box.sh("cat /tmp/app.log")).stdout;
    return { code: code === 137 ? null : code, log };
  } finally {
    await box.stop();
  }
}
