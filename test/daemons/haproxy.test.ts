import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LoadBalancer, WebStack, WebTier, Database } from "../../lib";
import { buildInvenioStack } from "../../examples/invenio/stack";
import { buildDjangoSiteStack } from "../../examples/django-site/stack";
import { buildInvenioRdmStack } from "../../examples/invenio-rdm/stack";
import { buildSmallSiteStack } from "../../examples/small-site/stack";
import { Sandbox, container, containersOf, fileIn, secretValue, testWith, type Container } from "./harness";

const CFG = "/usr/local/etc/haproxy/haproxy.cfg";
const it = testWith(["haproxy", "unshare", "nsenter", "curl", "openssl", "ip"]);

const certDirs: string[] = [];
afterAll(() => certDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A self-signed certificate (its file holds no key) and its private key. */
function selfSigned(): { certificateFile: string; keyPem: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-cert-"));
  certDirs.push(dir);
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
    "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
  return { certificateFile: path.join(dir, "cert.pem"), keyPem: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
}

/** An HTTPS stack; the key file gets the key, as the provider uploads the sensitive variable's value at apply. */
function httpsStack(cert: { certificateFile: string; keyPem: string }): Container[] {
  const cs = containersOf((scope) => {
    // Not loopback: the backends must be unreachable, else their checks would hit HAProxy itself.
    const stack = new WebStack(scope, "tls", { subnet: "10.99.0.0/16" });
    const db = new Database(stack, "db", { replicas: 0 });
    const web = new WebTier(stack, "web", { image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
    new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: cert.certificateFile } });
    return stack;
  });
  const key = "/usr/local/etc/haproxy/certs/site.pem.key";
  expect(fileIn(container(cs, "lb"), key)).toBe(secretValue("lb_tls_key"));
  return cs.map((c) => (c.key === "lb" ? { ...c, files: c.files.map((f) => (f.path === key ? { ...f, content: cert.keyPem } : f)) } : c));
}

/** A sandbox holding the lb container's files, with the container's sysctls applied. */
function lbSandbox(name: string, lb: Container): Sandbox {
  const sysctls = Object.entries((lb.sysctls as Record<string, string>) ?? {})
    .map(([k, v]) => `sysctl -q -w ${k}=${v}`)
    .join("\n");
  return new Sandbox(name, { files: lb.files, setup: sysctls || ":" });
}

describe("HAProxy 2.6 accepts and serves the rendered haproxy.cfg", () => {
  const variants: [string, () => Container[]][] = [
    ["invenio", () => containersOf((s) => buildInvenioStack(s))],
    ["small-site", () => containersOf((s) => buildSmallSiteStack(s))],
    ["django-site (siteHost)", () => containersOf((s) => buildDjangoSiteStack(s))],
    ["invenio-rdm (/api to the REST pool)", () => containersOf((s) => buildInvenioRdmStack(s))],
    ["https (self-signed certificateFile, key variable)", () => httpsStack(selfSigned())],
  ];

  for (const [name, build] of variants) {
    it(`haproxy -c: ${name}`, async () => {
      const lb = container(build(), "lb");
      expect(lb.command).toContain(CFG);
      const box = lbSandbox(`haproxy-c`, lb);
      try {
        await box.start();
        const r = await box.exec(["haproxy", "-c", "-f", CFG], { env: lb.env });
        if (r.code !== 0) throw new Error(`haproxy -c rejected ${name}:\n${r.stdout}\n${r.stderr}\n--- cfg ---\n${lb.files.find((f) => f.path === CFG)?.content}`);
        expect(r.stdout + r.stderr).toMatch(/Configuration file is valid/);
        // No warnings either: HAProxy 2.6 warns about deprecated or ignored keywords.
        expect((r.stdout + r.stderr).split("\n").filter((l) => /\[WARNING\]|\[ALERT\]/.test(l))).toEqual([]);
      } finally {
        await box.stop();
      }
    });
  }

  for (const [name, build] of variants.filter(([n]) => n === "invenio" || n.startsWith("https"))) {
    it(`runs (${name}): stats page 401 without the password, 200 with it`, async () => {
      const lb = container(build(), "lb");
      const box = lbSandbox("haproxy-run", lb);
      try {
        await box.start({ user: lb.user ?? "haproxy", argv: lb.command, env: lb.env });
        const code = async (...extra: string[]) =>
          (await box.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", ...extra, "http://127.0.0.1:8404/stats"])).stdout;
        await box.waitFor("stats port", async () => (await code()) !== "000", 30_000);
        expect(await code()).toBe("401");
        expect(await code("-u", "admin:wrong")).toBe("401");
        expect(await code("-u", `admin:${secretValue("lb_stats_password")}`)).toBe("200");
        // The HTTP frontend is up too (no backend is running: 503 from the rendered errorfile, or 308 to HTTPS).
        const front = (await box.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "http://127.0.0.1:80/"])).stdout;
        expect(front).toBe(name.startsWith("https") ? "308" : "503");
        if (name.startsWith("https")) {
          const tls = await box.exec(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "https://127.0.0.1:443/"]);
          expect(tls.stdout).toBe("503");
        }
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- haproxy log ---\n${box.log()}`);
      } finally {
        await box.stop();
      }
    });
  }
});
