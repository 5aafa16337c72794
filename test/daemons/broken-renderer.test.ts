/**
 * A deliberately broken renderer makes the suite fail with the daemon's own message: the rendered
 * file, with one keyword misspelt, is rejected by the real daemon, and the complaint names the keyword
 * and the line. The unbroken file passes in the same sandbox, so the failure is the typo's alone.
 */
import { buildSmallSiteStack } from "../../examples/small-site/stack";
import { Sandbox, container, containersOf, fileIn, testWith, type Container, type RenderedFile } from "./harness";

const it = testWith(["haproxy", "nginx", "unshare", "nsenter", "ip"]);
const HAPROXY_CFG = "/usr/local/etc/haproxy/haproxy.cfg";
const NGINX_CONF = "/etc/nginx/nginx.conf";

/** The container's files with one whole-word keyword at the start of a line replaced; returns the 1-based line too. */
function breakKeyword(c: Container, file: string, keyword: string, typo: string): { files: RenderedFile[]; line: number } {
  const text = fileIn(c, file);
  const lines = text.split("\n");
  const line = lines.findIndex((l) => new RegExp(`^\\s*${keyword}\\b`).test(l));
  if (line < 0) throw new Error(`no ${keyword} line in ${file}`);
  lines[line] = lines[line].replace(keyword, typo);
  return { files: c.files.map((f) => (f.path === file ? { ...f, content: lines.join("\n") } : f)), line: line + 1 };
}

describe("a deliberately broken renderer makes the suite fail with the daemon's own message", () => {
  const cs = containersOf((s) => buildSmallSiteStack(s));

  it("haproxy -c rejects `balanse` with its own 'unknown keyword' alert", async () => {
    const lb = container(cs, "lb");
    const { files, line } = breakKeyword(lb, HAPROXY_CFG, "balance", "balanse");
    const box = new Sandbox("haproxy-broken", { files });
    try {
      await box.start();
      const r = await box.exec(["haproxy", "-c", "-f", HAPROXY_CFG], { env: lb.env });
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(new RegExp(`\\[ALERT\\].*${HAPROXY_CFG.replace(/\./g, "\\.")}:${line}\\].*unknown keyword 'balanse'`));
      expect(r.stdout + r.stderr).not.toMatch(/Configuration file is valid/);
    } finally {
      await box.stop();
    }
    // The unbroken file passes: the failure above is the typo's alone.
    const ok = new Sandbox("haproxy-ok", { files: lb.files });
    try {
      await ok.start();
      const r = await ok.exec(["haproxy", "-c", "-f", HAPROXY_CFG], { env: lb.env });
      expect({ code: r.code, valid: /Configuration file is valid/.test(r.stdout + r.stderr) }).toEqual({ code: 0, valid: true });
    } finally {
      await ok.stop();
    }
  });

  it("nginx -t rejects `worker_conections` with its own 'unknown directive' emerg", async () => {
    const web = container(cs, "web-1-nginx");
    const { files, line } = breakKeyword(web, NGINX_CONF, "worker_connections", "worker_conections");
    for (const [name, fs, broken] of [["nginx-broken", files, true], ["nginx-ok", web.files, false]] as const) {
      const box = new Sandbox(name, { files: [...fs], setup: "mkdir -p /srv/static" });
      try {
        await box.start();
        const r = await box.exec(["nginx", "-t", "-c", NGINX_CONF]);
        if (broken) {
          expect(r.code).not.toBe(0);
          expect(r.stderr).toMatch(new RegExp(`\\[emerg\\] \\d+#\\d+: unknown directive "worker_conections" in ${NGINX_CONF.replace(/\./g, "\\.")}:${line}\n`));
          expect(r.stderr).toMatch(/configuration file \/etc\/nginx\/nginx\.conf test failed/);
        } else {
          expect(r.code).toBe(0);
          expect(r.stderr).toMatch(/test is successful/);
        }
      } finally {
        await box.stop();
      }
    }
  });
});
