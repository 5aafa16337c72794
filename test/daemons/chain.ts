/**
 * One web node behind the load balancer, as the stack runs them: app server, nginx and HAProxy in one
 * sandbox on loopback addresses (HAProxy on HAPROXY_PORT, nginx on 80). Logs: the app server's in
 * box.log(), nginx's in /tmp/nginx.log, HAProxy's in /tmp/haproxy.log.
 */
import * as path from "node:path";
import { Sandbox, container, type Container } from "./harness";

const APP_DIR = path.resolve(__dirname, "../../examples/app");
const HAPROXY_CFG = "/usr/local/etc/haproxy/haproxy.cfg";
/** HAProxy binds here in the sandbox: nginx has port 80 of the same loopback. */
export const HAPROXY_PORT = 8080;

/** App server, nginx and HAProxy of the one node, in one sandbox. */
export async function withChain(name: string, cs: Container[], fn: (box: Sandbox) => Promise<void>, editCfg: (cfg: string) => string = (c) => c): Promise<void> {
  const app = container(cs, "web-1-app");
  const ngx = container(cs, "web-1-nginx");
  const lb = container(cs, "lb");
  const lbFiles = lb.files.map((f) => (f.path === HAPROXY_CFG ? { ...f, content: editCfg(f.content.replace(/^(\s*)bind :80$/m, `$1bind :${HAPROXY_PORT}`)) } : f));
  const box = new Sandbox(`${name}-${app.role}`, {
    files: [...app.files, ...ngx.files, ...lbFiles],
    copies: { [path.join(APP_DIR, "webstack_example")]: "/srv/app/webstack_example", [path.join(APP_DIR, "static")]: "/srv/static" },
    setup: "chown -R nobody:nogroup /srv/app",
  });
  try {
    await box.start({ user: "nobody", argv: app.command, env: { ...app.env, PYTHONPATH: "/srv/app", PYTHONUNBUFFERED: "1" }, cwd: "/srv/app" });
    expect((await box.sh(`${ngx.command.map((a) => `'${a}'`).join(" ")} >/tmp/nginx.log 2>&1 &`)).code).toBe(0);
    const lbEnv = Object.entries(lb.env).map(([k, v]) => `${k}='${v}'`).join(" ");
    expect((await box.sh(`${lbEnv} ${lb.command.map((a) => `'${a}'`).join(" ")} >/tmp/haproxy.log 2>&1 &`)).code).toBe(0);
    const ping = async (port: number) => (await box.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", `http://127.0.0.1:${port}/ping`])).stdout === "200";
    await box.waitFor("nginx /ping", () => ping(80), 60_000);
    await box.waitFor("HAProxy /ping (server up)", () => ping(HAPROXY_PORT), 30_000);
    await fn(box);
  } catch (e) {
    const logs = (await box.sh("echo '--- nginx ---'; cat /tmp/nginx.log; echo '--- haproxy ---'; cat /tmp/haproxy.log").catch(() => ({ stdout: "" }))).stdout;
    throw new Error(`${(e as Error).message}\n--- app server log ---\n${box.log()}\n${logs}`);
  } finally {
    await box.stop();
  }
}
