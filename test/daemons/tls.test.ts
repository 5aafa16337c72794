/**
 * The TLS profiles on a real HAProxy 2.6 (OpenSSL 3.0): the rendered haproxy.cfg, certificate and
 * key run in a sandbox, and `openssl s_client` offers one protocol, cipher or group at a time. What
 * the profile lists must be accepted (and be what was negotiated); a sample of what it leaves out
 * must be refused by HAProxy with a TLS alert. Each refused offer is first accepted by a permissive
 * `openssl s_server` on the same certificate in the same sandbox, so a refusal shows the profile at
 * work, not a client or certificate that could never do it. Set TLS_PROBE_LOG=1 to print each probe.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LoadBalancer, WebStack, WebTier, Database, TLS_PROFILES, type LoadBalancerProps } from "../../lib";
import { Sandbox, container, containersOf, fileIn, secretValue, testWith, type Container } from "./harness";

const CFG = "/usr/local/etc/haproxy/haproxy.cfg";
const CERT = "/usr/local/etc/haproxy/certs/site.pem";
const KEY = `${CERT}.key`;
const CONTROL_PORT = 4433;
const it = testWith(["haproxy", "unshare", "nsenter", "curl", "openssl", "ip"]);

const tmpDirs: string[] = [];
afterAll(() => tmpDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

interface TestCertificate {
  /** PEM of the certificate alone: what certificateFile points at. */
  readonly certificateFile: string;
  /** PEM of the private key: what the sensitive variable would hold at apply. */
  readonly keyPem: string;
}

/** A self-signed certificate for localhost, made now (no key is ever committed). */
function makeCertificate(kind: "rsa" | "ecdsa"): TestCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `webstack-tls-${kind}-`));
  tmpDirs.push(dir);
  const newkey = kind === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  execFileSync("openssl", ["req", "-x509", ...newkey, "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
    "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
  return { certificateFile: path.join(dir, "cert.pem"), keyPem: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
}

type Https = NonNullable<LoadBalancerProps["https"]>;

/**
 * The lb container of a one-node HTTPS stack. The key file holds the key variable's placeholder
 * (the harness swaps placeholders for test values); here it gets the real key, as the provider
 * uploads the variable's value at apply.
 */
function lbContainer(cert: TestCertificate, https: Omit<Https, "certificateFile">): Container {
  const lb = container(
    containersOf((scope) => {
      // Not loopback: the backends must be unreachable, else their checks would hit HAProxy itself.
      const stack = new WebStack(scope, "tls", { subnet: "10.99.0.0/16" });
      const db = new Database(stack, "db", { replicas: 0 });
      const web = new WebTier(stack, "web", { image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db });
      new LoadBalancer(stack, "lb", { defaultTarget: web, https: { ...https, certificateFile: cert.certificateFile } });
      return stack;
    }),
    "lb",
  );
  expect(fileIn(lb, CERT)).not.toMatch(/PRIVATE KEY/);
  expect(fileIn(lb, KEY)).toBe(secretValue("lb_tls_key"));
  return { ...lb, files: lb.files.map((f) => (f.path === KEY ? { ...f, content: cert.keyPem } : f)) };
}

function sandboxOf(lb: Container): Sandbox {
  const sysctls = Object.entries((lb.sysctls as Record<string, string>) ?? {}).map(([k, v]) => `sysctl -q -w ${k}=${v}`);
  return new Sandbox("haproxy-tls", { files: lb.files, setup: sysctls.join("\n") || ":" });
}

/** haproxy -c on the rendered files: valid, and no warning or alert. */
async function checkConfig(lb: Container): Promise<void> {
  const box = sandboxOf(lb);
  try {
    await box.start();
    const r = await box.exec(["haproxy", "-c", "-f", CFG], { env: lb.env });
    const out = r.stdout + r.stderr;
    if (r.code !== 0) throw new Error(`haproxy -c failed:\n${out}\n--- cfg ---\n${fileIn(lb, CFG)}`);
    expect(out).toMatch(/Configuration file is valid/);
    expect(out.split("\n").filter((l) => /\[WARNING\]|\[ALERT\]/.test(l))).toEqual([]);
  } finally {
    await box.stop();
  }
}

interface Handshake {
  readonly accepted: boolean;
  readonly protocol?: string;
  readonly cipher?: string;
  /** "X25519", "prime256v1", "secp384r1"... from s_client's "Server Temp Key". */
  readonly group?: string;
  /** The TLS alert the server sent, when it refused. */
  readonly alert?: number;
  readonly output: string;
}

/** One handshake with `openssl s_client -brief`, offering only what `offer` says. */
async function handshake(box: Sandbox, port: number, offer: string[]): Promise<Handshake> {
  const r = await box.exec(["openssl", "s_client", "-brief", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", ...offer], { timeoutMs: 15_000 });
  const output = r.stdout + r.stderr;
  const field = (re: RegExp) => re.exec(output)?.[1];
  const tempKey = field(/Server Temp Key: ([^\n]+)/);
  const group = tempKey ? (/^ECDH, ([^,]+),/.exec(tempKey)?.[1] ?? /^([^,]+),/.exec(tempKey)?.[1]) : undefined;
  const alert = field(/SSL alert number (\d+)/);
  const accepted = r.code === 0 && /CONNECTION ESTABLISHED/.test(output);
  return { accepted, protocol: field(/Protocol version: (\S+)/), cipher: field(/Ciphersuite: (\S+)/), group, alert: alert ? Number(alert) : undefined, output };
}

/** What s_client offers. The client drops to security level 0 so that it can offer anything we want refused. */
const offer = {
  protocol: (p: string) => [`-${p}`, "-cipher", "ALL:@SECLEVEL=0"],
  tls12Cipher: (c: string) => ["-tls1_2", "-cipher", `${c}:@SECLEVEL=0`],
  tls13Suite: (s: string) => ["-tls1_3", "-ciphersuites", s],
  group: (version: "tls1_2" | "tls1_3", g: string) => [`-${version}`, "-groups", g, "-cipher", "ALL:@SECLEVEL=0"],
};

interface Probe {
  readonly what: string;
  readonly offer: string[];
  /** For an accepted probe: what must have been negotiated. */
  readonly negotiated?: { protocol?: string; cipher?: string; group?: string };
}

const ALL_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";
const ALL_GROUPS = "X25519:prime256v1:secp384r1:secp521r1:X448:ffdhe2048:ffdhe3072";

/** Runs HAProxy from the rendered files, and the permissive control server beside it. */
async function withServers(lb: Container, run: (box: Sandbox) => Promise<void>): Promise<void> {
  const box = sandboxOf(lb);
  try {
    await box.start({ user: lb.user ?? "haproxy", argv: lb.command, env: lb.env });
    const control = [
      "openssl", "s_server", "-quiet", "-accept", String(CONTROL_PORT), "-cert", CERT, "-key", KEY,
      "-cipher", "ALL:@SECLEVEL=0", "-ciphersuites", ALL_TLS13, "-groups", ALL_GROUPS,
    ].join(" ");
    const started = await box.sh(`${control} </dev/null >/tmp/control.log 2>&1 &`);
    if (started.code !== 0) throw new Error(`control server: ${started.stderr}`);
    await box.waitFor("HAProxy's TLS port", async () => (await handshake(box, 443, [])).accepted, 30_000);
    await box.waitFor("the control server", async () => (await handshake(box, CONTROL_PORT, [])).accepted, 30_000);
    await run(box);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- haproxy log ---\n${box.log()}`);
  } finally {
    await box.stop();
  }
}

const log: string[] = [];
afterAll(() => {
  // eslint-disable-next-line no-console
  if (process.env.TLS_PROBE_LOG && log.length > 0) console.log(log.join("\n"));
});

/** Every `accept` probe is accepted by HAProxy as asked; every `refuse` probe by the control server only. */
async function probe(box: Sandbox, label: string, accept: readonly Probe[], refuse: readonly Probe[]): Promise<void> {
  const problems: string[] = [];
  for (const p of accept) {
    const h = await handshake(box, 443, p.offer);
    log.push(`${label}: ${p.what}: ${h.accepted ? "accepted" : `REFUSED (alert ${h.alert})`} ${h.protocol ?? ""} ${h.cipher ?? ""} ${h.group ?? ""}`.trimEnd());
    if (!h.accepted) {
      problems.push(`${p.what}: refused, want accepted\n${h.output}`);
      continue;
    }
    const want = p.negotiated ?? {};
    const got = { protocol: h.protocol, cipher: h.cipher, group: h.group };
    for (const k of Object.keys(want) as (keyof typeof want)[]) {
      if (want[k] !== got[k]) problems.push(`${p.what}: negotiated ${k} ${got[k]}, want ${want[k]}`);
    }
  }
  for (const p of refuse) {
    const control = await handshake(box, CONTROL_PORT, p.offer);
    if (!control.accepted) problems.push(`${p.what}: the control server refuses it too, so the probe shows nothing\n${control.output}`);
    const h = await handshake(box, 443, p.offer);
    log.push(`${label}: ${p.what}: ${h.accepted ? `ACCEPTED ${h.protocol} ${h.cipher} ${h.group ?? ""}` : `refused (alert ${h.alert})`}`.trimEnd());
    if (h.accepted) problems.push(`${p.what}: accepted (${h.protocol} ${h.cipher} ${h.group ?? ""}), want refused`);
    // A refusal must be HAProxy's TLS alert, not a client that gave up before asking.
    else if (h.alert === undefined) problems.push(`${p.what}: failed without a TLS alert from HAProxy\n${h.output}`);
  }
  expect(problems).toEqual([]);
}

/** Probes of one protocol each. */
const protocols = (accepted: string[], refused: string[]) => ({
  accept: accepted.map((p) => ({ what: `protocol ${p}`, offer: offer.protocol(p), negotiated: { protocol: p.replace("tls1_", "TLSv1.") } })),
  refuse: refused.map((p) => ({ what: `protocol ${p}`, offer: offer.protocol(p) })),
});

const tls12Ciphers = (ciphers: readonly string[]): Probe[] =>
  ciphers.map((c) => ({ what: `TLS 1.2 cipher ${c}`, offer: offer.tls12Cipher(c), negotiated: { protocol: "TLSv1.2", cipher: c } }));
const tls13Suites = (suites: readonly string[]): Probe[] =>
  suites.map((s) => ({ what: `TLS 1.3 suite ${s}`, offer: offer.tls13Suite(s), negotiated: { protocol: "TLSv1.3", cipher: s } }));
const groups = (version: "tls1_2" | "tls1_3", list: readonly string[]): Probe[] =>
  list.map((g) => ({ what: `${version === "tls1_2" ? "TLS 1.2" : "TLS 1.3"} group ${g}`, offer: offer.group(version, g), negotiated: { group: g } }));

const intermediate = TLS_PROFILES.intermediate;
const modern = TLS_PROFILES.modern;
const rsaCiphers = intermediate.ciphers.filter((c) => c.startsWith("ECDHE-RSA-"));
const ecdsaCiphers = intermediate.ciphers.filter((c) => c.startsWith("ECDHE-ECDSA-"));
/** TLS 1.2 ciphers the running HAProxy used to accept (the issue's list), and those 5.7's intermediate had. */
const RSA_OUTSIDE = ["AES128-SHA", "AES256-SHA256", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-CHACHA20-POLY1305"];
const ECDSA_OUTSIDE = ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"];
const TLS13_OUTSIDE = ["TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"];
const GROUPS_OUTSIDE = ["secp521r1", "X448", "ffdhe2048", "ffdhe3072"];

describe("TLS profiles on HAProxy 2.6: openssl s_client", () => {
  const rsa = () => makeCertificate("rsa");
  const ecdsa = () => makeCertificate("ecdsa");

  it("haproxy -c is clean for intermediate, modern and a custom profile", async () => {
    const cert = rsa();
    await checkConfig(lbContainer(cert, {}));
    await checkConfig(lbContainer(cert, { tlsProfile: "modern" }));
    await checkConfig(lbContainer(cert, { tlsProfile: { protocols: ["TLSv1.2"], ciphers: ["ECDHE-RSA-AES256-GCM-SHA384"], groups: ["secp384r1"] }, hsts: { includeSubDomains: false } }));
  });

  it("intermediate (the default), RSA certificate: TLS 1.2 and 1.3, the profile's RSA ciphers, suites and groups only", async () => {
    const lb = lbContainer(rsa(), {});
    expect(fileIn(lb, CFG)).toContain(`ssl-default-bind-ciphers ${intermediate.ciphers.join(":")}`);
    await withServers(lb, async (box) => {
      const p = protocols(["tls1_3", "tls1_2"], ["tls1_1", "tls1"]);
      await probe(
        box,
        "intermediate/rsa",
        [...p.accept, ...tls12Ciphers(rsaCiphers), ...tls13Suites(intermediate.ciphersuites), ...groups("tls1_3", intermediate.groups), ...groups("tls1_2", intermediate.groups)],
        [
          ...p.refuse,
          ...RSA_OUTSIDE.map((c) => ({ what: `TLS 1.2 cipher ${c}`, offer: offer.tls12Cipher(c) })),
          ...TLS13_OUTSIDE.map((s) => ({ what: `TLS 1.3 suite ${s}`, offer: offer.tls13Suite(s) })),
          ...GROUPS_OUTSIDE.map((g) => ({ what: `TLS 1.3 group ${g}`, offer: offer.group("tls1_3", g) })),
          ...GROUPS_OUTSIDE.map((g) => ({ what: `TLS 1.2 group ${g}`, offer: offer.group("tls1_2", g) })),
        ],
      );

      // prefer-client-ciphers: the client's first choice wins, in either order.
      for (const order of [rsaCiphers.slice(1, 3), rsaCiphers.slice(1, 3).reverse()]) {
        expect((await handshake(box, 443, ["-tls1_2", "-cipher", order.join(":")])).cipher).toBe(order[0]);
      }
      for (const order of [["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"], ["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]]) {
        expect((await handshake(box, 443, ["-tls1_3", "-ciphersuites", order.join(":")])).cipher).toBe(order[0]);
      }
      // no-tls-tickets: no session ticket in a TLS 1.2 handshake.
      const full = await box.exec(["openssl", "s_client", "-connect", "127.0.0.1:443", "-servername", "localhost", "-tls1_2"]);
      expect(full.stdout).toMatch(/Protocol *: TLSv1\.2/);
      expect(full.stdout).not.toMatch(/TLS session ticket/);

      // HSTS as the profile says, and a 308 from HTTP.
      const headers = (await box.exec(["curl", "-sk", "-D", "-", "-o", "/dev/null", "--max-time", "3", "https://127.0.0.1/"])).stdout;
      expect(headers).toMatch(/^strict-transport-security: max-age=63072000; includeSubDomains\r?$/im);
      const redirect = (await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "--max-time", "3", "-X", "POST", "http://127.0.0.1/login?next=/"])).stdout;
      expect(redirect).toMatch(/^HTTP\/1\.1 308 /);
      expect(redirect).toMatch(/^location: https:\/\/127\.0\.0\.1\/login\?next=\/\r?$/im);
      // The Host header's port is the HTTP one: dropped, HTTPS is on 443.
      const fromPort = (await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "--max-time", "3", "-H", "Host: [2001:db8::1]:8080", "http://127.0.0.1/x"])).stdout;
      expect(fromPort).toMatch(/^location: https:\/\/\[2001:db8::1\]\/x\r?$/im);
    });
  });

  it("intermediate, ECDSA certificate: the profile's ECDSA ciphers only", async () => {
    await withServers(lbContainer(ecdsa(), { tlsProfile: "intermediate" }), (box) =>
      probe(
        box,
        "intermediate/ecdsa",
        // TLS 1.2 groups are probed with the RSA certificate: in TLS 1.2 the client's groups must also hold the curve of an ECDSA certificate.
        [...tls12Ciphers(ecdsaCiphers), ...tls13Suites(intermediate.ciphersuites), ...groups("tls1_3", intermediate.groups)],
        [
          ...ECDSA_OUTSIDE.map((c) => ({ what: `TLS 1.2 cipher ${c}`, offer: offer.tls12Cipher(c) })),
          ...GROUPS_OUTSIDE.map((g) => ({ what: `TLS 1.3 group ${g}`, offer: offer.group("tls1_3", g) })),
        ],
      ),
    );
  });

  it("modern, ECDSA certificate: TLS 1.3 only, the profile's suites and groups only", async () => {
    // Published on 8443: the redirect from HTTP must name that port, not keep the Host header's.
    const lb = lbContainer(ecdsa(), { tlsProfile: "modern", hsts: { includeSubDomains: true, preload: true }, port: 8443 });
    expect(fileIn(lb, CFG)).not.toMatch(/ssl-default-bind-ciphers /);
    await withServers(lb, async (box) => {
      const p = protocols(["tls1_3"], ["tls1_2", "tls1_1", "tls1"]);
      await probe(
        box,
        "modern/ecdsa",
        [...p.accept, ...tls13Suites(modern.ciphersuites), ...groups("tls1_3", modern.groups)],
        [
          ...p.refuse,
          // Not even intermediate's ciphers: no TLS 1.2 at all.
          ...tls12Ciphers(ecdsaCiphers).map(({ what, offer: o }) => ({ what, offer: o })),
          ...TLS13_OUTSIDE.map((s) => ({ what: `TLS 1.3 suite ${s}`, offer: offer.tls13Suite(s) })),
          ...GROUPS_OUTSIDE.map((g) => ({ what: `TLS 1.3 group ${g}`, offer: offer.group("tls1_3", g) })),
        ],
      );
      const headers = (await box.exec(["curl", "-sk", "-D", "-", "-o", "/dev/null", "--max-time", "3", "https://127.0.0.1/"])).stdout;
      expect(headers).toMatch(/^strict-transport-security: max-age=63072000; includeSubDomains; preload\r?$/im);
      const redirect = (await box.exec(["curl", "-s", "-D", "-", "-o", "/dev/null", "--max-time", "3", "-H", "Host: site.example:8080", "http://127.0.0.1/a?b=1"])).stdout;
      expect(redirect).toMatch(/^location: https:\/\/site\.example:8443\/a\?b=1\r?$/im);
    });
  });

  it("a custom profile: exactly its protocol, cipher and group", async () => {
    const lb = lbContainer(rsa(), { tlsProfile: { protocols: ["TLSv1.2"], ciphers: ["ECDHE-RSA-AES256-GCM-SHA384"], groups: ["secp384r1"] }, redirectHttp: false });
    await withServers(lb, (box) =>
      probe(
        box,
        "custom/rsa",
        [...tls12Ciphers(["ECDHE-RSA-AES256-GCM-SHA384"]), ...groups("tls1_2", ["secp384r1"])],
        [
          { what: "protocol tls1_3", offer: offer.protocol("tls1_3") },
          ...["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-CHACHA20-POLY1305"].map((c) => ({ what: `TLS 1.2 cipher ${c}`, offer: offer.tls12Cipher(c) })),
          ...["X25519", "prime256v1"].map((g) => ({ what: `TLS 1.2 group ${g}`, offer: offer.group("tls1_2", g) })),
        ],
      ),
    );
  });
});
