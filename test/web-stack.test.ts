import { Testing } from "cdktf";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Network } from "@cdktf/provider-docker/lib/network";
import { Volume } from "@cdktf/provider-docker/lib/volume";
import { Budgets, Cache, Database, LoadBalancer, Queue, WebTier, WorkerTier } from "../lib";
import { IMAGE, WSGI, newStack, synthJson } from "./helpers";

function smallStack() {
  const stack = newStack({ namePrefix: "shop" });
  const db = new Database(stack, "db", { replicas: 1, memoryMiB: 1024, maxConnections: 60 });
  const cache = new Cache(stack, "cache");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 2, processes: 2, threads: 2, database: db, cache });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  return stack;
}

describe("Docker resources", () => {
  const stack = smallStack();
  const synthesized = Testing.synth(stack, true);
  const json = synthJson(stack);
  const containers = json.resource.docker_container as Record<string, any>;

  test("one network with the fixed subnet", () => {
    expect(synthesized).toHaveResourceWithProperties(Network, { name: "shop-net", ipam_config: [{ subnet: "172.30.0.0/16", gateway: "172.30.0.1" }] });
  });

  test("volumes for database data and static files", () => {
    expect(synthesized).toHaveResourceWithProperties(Volume, { name: "shop-db-primary-data" });
    expect(synthesized).toHaveResourceWithProperties(Volume, { name: "shop-db-replica-1-data" });
    expect(synthesized).toHaveResourceWithProperties(Volume, { name: "shop-web-1-static" });
  });

  test("every container has a memory limit, a restart policy, a health check and a config-hash label", () => {
    expect(Object.keys(containers).sort()).toEqual(
      ["cache", "db-primary", "db-replica-1", "lb", "web-1-app", "web-1-nginx", "web-2-app", "web-2-nginx"].map((k) => `container-${k}`).sort(),
    );
    for (const c of Object.values(containers)) {
      expect(c.memory).toBeGreaterThan(0);
      expect(c.restart).toBe("unless-stopped");
      expect(c.healthcheck.test.length).toBeGreaterThan(1);
      expect(c.labels.find((l: any) => l.label === "webstack.config-hash").value).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  test("only the load balancer publishes ports", () => {
    const publishing = Object.entries(containers).filter(([, c]) => c.ports.length > 0).map(([k]) => k);
    expect(publishing).toEqual(["container-lb"]);
    expect(containers["container-lb"].ports).toEqual([{ internal: 80, external: 80, ip: "0.0.0.0", protocol: "tcp" }]);
  });

  test("configs travel as uploads, secrets as sensitive variables", () => {
    expect(synthesized).toHaveResourceWithProperties(Container, { name: "shop-lb" });
    expect(containers["container-lb"].upload.map((u: any) => u.file)).toEqual([
      "/usr/local/etc/haproxy/errors/503.http",
      "/usr/local/etc/haproxy/haproxy.cfg",
    ]);
    expect(Object.keys(json.variable).sort()).toEqual(["cache_password", "db_password", "db_replication_password", "lb_stats_password"]);
    for (const v of Object.values(json.variable) as any[]) {
      expect(v.sensitive).toBe(true);
      expect(v.default).toBeUndefined();
    }
    expect(containers["container-web-1-app"].env).toContain("DATABASE_URL=postgresql://app:${var.db_password}@172.30.1.10:5432,172.30.1.11:5432/app?target_session_attrs=read-write");
  });

  test("static addresses: each component in its own block, nginx and app side by side", () => {
    const address = (k: string) => containers[`container-${k}`].networks_advanced[0].ipv4_address;
    expect(address("db-primary")).toBe("172.30.1.10");
    expect(address("db-replica-1")).toBe("172.30.1.11");
    expect(address("cache")).toBe("172.30.2.10");
    expect(address("web-1-nginx")).toBe("172.30.3.10");
    expect(address("web-1-app")).toBe("172.30.3.11");
    expect(address("lb")).toBe("172.30.4.10");
  });

  test("the image entrypoint is bypassed: the first word of the command is the entrypoint", () => {
    expect(containers["container-db-primary"].entrypoint).toEqual(["/bin/sh"]);
    expect(containers["container-db-primary"].command).toEqual(["/etc/postgresql/start.sh"]);
  });
});

test("changing a health-checked file changes the config-hash label", () => {
  const label = (processes: number) => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, processes });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return synthJson(stack).resource.docker_container["container-web-1-app"].labels[0].value;
  };
  expect(label(4)).not.toEqual(label(5));
  expect(label(4)).toEqual(label(4));
});

test("wiring added after construction still shows up at synth", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  web.connect({ cache: new Cache(stack, "cache") });
  const env = synthJson(stack).resource.docker_container["container-web-1-app"].env as string[];
  expect(env.some((e) => e.startsWith("CACHE_URL=redis://"))).toBe(true);
});

test("a stack without components synthesizes its network only", () => {
  const json = synthJson(newStack());
  expect(Object.keys(json.resource)).toEqual(["docker_network"]);
});

describe("HTTPS", () => {
  test("a certificate variable becomes a sensitive variable uploaded as the PEM bundle", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateVariable: "site_pem" } });
    const json = synthJson(stack);
    expect(json.variable.site_pem).toMatchObject({ sensitive: true, type: "string" });
    const lb = json.resource.docker_container["container-lb"];
    expect(lb.upload.find((u: any) => u.file === "/usr/local/etc/haproxy/certs/site.pem").content).toBe("${var.site_pem}");
    expect(lb.ports).toEqual([
      { internal: 80, external: 80, ip: "0.0.0.0", protocol: "tcp" },
      { internal: 443, external: 443, ip: "0.0.0.0", protocol: "tcp" },
    ]);
  });
  test("a certificate file is read at synth and uploaded", () => {
    const dir = require("node:fs").mkdtempSync(require("node:path").join(require("node:os").tmpdir(), "pem-"));
    const pem = require("node:path").join(dir, "site.pem");
    require("node:fs").writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n");
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: pem, redirectHttp: false } });
    const lb = synthJson(stack).resource.docker_container["container-lb"];
    expect(lb.upload.find((u: any) => u.file === "/usr/local/etc/haproxy/certs/site.pem").content).toContain("BEGIN CERTIFICATE");
    const cfg = lb.upload.find((u: any) => u.file === "/usr/local/etc/haproxy/haproxy.cfg").content;
    expect(cfg).not.toContain("redirect scheme https");
  });
});

test("backup servers come from another tier", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, nodes: 1 });
  const spare = new WebTier(stack, "spare", { image: IMAGE, wsgiModule: WSGI, nodes: 1 });
  new LoadBalancer(stack, "lb", { defaultTarget: web, defaultBackup: spare, balance: "source" });
  const cfg = stack.cluster().plan.containers.find((c) => c.key === "lb")!.files[0].content;
  expect(cfg).toMatch(/server spare-1 \S+:80 maxconn 16 backup/);
  expect(cfg).toContain("balance source");
});

test("workers, beat and Flower get their own containers, none published", () => {
  const stack = newStack();
  const db = new Database(stack, "db");
  const { Queue, WorkerTier } = require("../lib");
  const mq = new Queue(stack, "mq");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db, queue: mq });
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "webstack_example.tasks", nodes: 2, concurrency: 3, beat: true, flower: true, database: db, queue: mq });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  const containers = stack.cluster().plan.containers.filter((c) => c.constructPath === "test/worker");
  expect(containers.map((c) => [c.key, c.role])).toEqual([
    ["worker-1", "celery-worker"],
    ["worker-2", "celery-worker"],
    ["worker-beat", "celery-beat"],
    ["worker-flower", "flower"],
  ]);
  expect(containers.every((c) => c.publishes.length === 0)).toBe(true);
  expect(containers[0].command).toEqual(expect.arrayContaining(["worker", "--concurrency=3"]));
  expect(containers[0].env.CELERY_BROKER_URL).toMatch(/^amqp:\/\/app:@@secret:mq_password@@@[\d.]+:5672\/app$/);
  expect(containers.some((c) => c.command.includes("--beat"))).toBe(false);
});

test("rendered text is escaped for Terraform's template syntax; only our own references interpolate", () => {
  const { buildInvenioStack } = require("../examples/invenio/stack");
  const json = Testing.synth(buildInvenioStack(Testing.app()), true);
  const strings: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(JSON.parse(json));
  const interpolations = strings.flatMap((s) => [...s.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]));
  expect(interpolations.length).toBeGreaterThan(0);
  for (const i of interpolations) expect(i).toMatch(/^(var\.[a-z0-9_]+|docker_(network|image|volume)\.[A-Za-z0-9_-]+\.[a-z_]+|length\(var\.[a-z0-9_]+\) > 0|can\(regex\(.*)$/);
  expect(strings.some((s) => /(?<!%)%\{/.test(s))).toBe(false);
  // The escaped forms are there: the haproxy.cfg keeps its own ${...} and %{...} for HAProxy.
  expect(json).toContain('stats auth admin:\\"$${HAPROXY_STATS_PASSWORD}\\"');
  expect(json).toContain("%%{+Q}r");
});

test("containers depend on what they connect to: nginx on its app, the app on the database, the load balancer on nginx", () => {
  const stack = smallStack();
  const containers = synthJson(stack).resource.docker_container;
  expect(containers["container-web-1-nginx"].depends_on).toEqual(["docker_container.container-web-1-app"]);
  expect(containers["container-web-1-app"].depends_on).toEqual(["docker_container.container-db-primary", "docker_container.container-cache"]);
  expect(containers["container-db-replica-1"].depends_on).toEqual(["docker_container.container-db-primary"]);
  expect(containers["container-lb"].depends_on).toEqual(["docker_container.container-web-1-nginx", "docker_container.container-web-2-nginx"]);
});

test("the postgres health check uses the socket that pg_hba.conf allows", () => {
  const primary = smallStack().cluster().plan.containers.find((c) => c.key === "db-primary")!;
  expect(primary.healthcheck.test[1]).toContain("pg_isready --host=/var/run/postgresql");
});

test("Flower on its own image runs without the app; beat's health check reaches the broker whatever the scheduler", () => {
  const stack = newStack();
  const mq = new Queue(stack, "mq");
  new WorkerTier(stack, "worker", { image: IMAGE, celeryApp: "app.tasks", queue: mq, beat: true, beatScheduler: "django_celery_beat.schedulers:DatabaseScheduler", flower: true, flowerImage: "mher/flower:2.0" });
  const plan = stack.cluster().plan;
  const flower = plan.containers.find((c) => c.key === "worker-flower")!;
  expect(flower.command).toEqual(["celery", "flower", "--port=5555", "--address=0.0.0.0"]);
  expect(flower.env.CELERY_BROKER_URL).toMatch(/^amqp:\/\//);
  const beat = plan.containers.find((c) => c.key === "worker-beat")!;
  expect(beat.command).toContain("--scheduler=django_celery_beat.schedulers:DatabaseScheduler");
  expect(beat.healthcheck.test[1]).toContain("kombu.Connection(os.environ['CELERY_BROKER_URL']");
  expect(() => new WorkerTier(newStack(), "w", { image: IMAGE, celeryApp: "a", queue: mq, beatScheduler: "not a class" })).toThrow(/beatScheduler: must be a Python class path/);
});

describe("HTTPS: TLS profile, HSTS and the private key", () => {
  const fs = require("node:fs") as typeof import("node:fs");
  const path = require("node:path") as typeof import("node:path");
  const { execFileSync } = require("node:child_process") as typeof import("node:child_process");
  const { WebStack } = require("../lib") as typeof import("../lib");
  const { synthApp, readTree } = require("./helpers") as typeof import("./helpers");
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  /** A real self-signed certificate and key, made by openssl now (no key is committed). */
  function certificate(): { cert: string; key: string; bundle: string } {
    const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "webstack-tls-"));
    dirs.push(dir);
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert], { stdio: "ignore" });
    const bundle = path.join(dir, "bundle.pem");
    fs.writeFileSync(bundle, fs.readFileSync(cert, "utf8") + fs.readFileSync(key, "utf8"));
    return { cert, key, bundle };
  }

  const propsErrorOf = (fn: () => unknown): Error => {
    try {
      fn();
    } catch (e) {
      expect((e as Error).name).toBe("PropsError");
      return e as Error;
    }
    throw new Error("expected a PropsError");
  };

  test("cdk.tf.json and configs/ of an HTTPS stack hold no private key: the key is a sensitive variable uploaded beside the certificate", () => {
    const { cert, key } = certificate();
    const { dir } = synthApp((app) => {
      const stack = new WebStack(app, "tls");
      const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
      new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: cert } });
      return stack;
    });
    const tree = readTree(dir);
    const written = Object.entries(tree).filter(([p]) => p === "cdk.tf.json" || p.startsWith("configs/"));
    expect(written.length).toBeGreaterThan(3);
    expect(written.filter(([, content]) => content.includes("PRIVATE KEY")).map(([p]) => p)).toEqual([]);
    const keyBody = fs.readFileSync(key, "utf8").split("\n")[1];
    expect(written.filter(([, content]) => content.includes(keyBody)).map(([p]) => p)).toEqual([]);

    const json = JSON.parse(tree["cdk.tf.json"]);
    expect(json.variable.lb_tls_key).toMatchObject({ sensitive: true, type: "string" });
    expect(json.variable.lb_tls_key.default).toBeUndefined();
    const uploads = json.resource.docker_container["container-lb"].upload;
    expect(uploads.find((u: any) => u.file === "/usr/local/etc/haproxy/certs/site.pem.key").content).toBe("${var.lb_tls_key}");
    expect(uploads.find((u: any) => u.file === "/usr/local/etc/haproxy/certs/site.pem").content).toBe(fs.readFileSync(cert, "utf8"));
    expect(tree["configs/lb.site.pem.key"]).toBe("@@secret:lb_tls_key@@");
    const cfg = tree["configs/lb.haproxy.cfg"];
    expect(cfg).toContain("ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets");
    expect(cfg).toContain('Strict-Transport-Security "max-age=63072000; includeSubDomains"');
    expect(cfg).toMatch(/http-request redirect location "https:\/\/%\[req.hdr\(host\),regsub\(:\[0-9\]\+\\\$,\)\]%\[pathq\]" code 308/);
  });

  test("a certificateFile holding a private key is refused, saying where the key goes instead", () => {
    const { bundle } = certificate();
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    const e = propsErrorOf(() => new LoadBalancer(stack, "front", { defaultTarget: web, https: { certificateFile: bundle } }));
    expect(e.message).toContain(`https.certificateFile: ${bundle} holds a private key (-----BEGIN PRIVATE KEY-----)`);
    expect(e.message).toContain("copied into cdk.tf.json and configs/");
    expect(e.message).toContain("sensitive variable front_tls_key");
    expect(e.message).toContain('TF_VAR_front_tls_key="$(cat site.key)"');
    const named = propsErrorOf(() => new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: bundle, keyVariable: "site_key" } }));
    expect(named.message).toContain('sensitive variable site_key at apply, e.g. TF_VAR_site_key="$(cat site.key)"');
  });

  test("a certificateFile that is missing or holds no certificate is a props error", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    expect(propsErrorOf(() => new LoadBalancer(stack, "a", { defaultTarget: web, https: { certificateFile: "/nonexistent/site.pem" } })).message).toContain(
      "https.certificateFile: cannot read /nonexistent/site.pem (ENOENT)",
    );
    const { key } = certificate();
    const onlyKey = key.replace(/key\.pem$/, "only.pem");
    fs.writeFileSync(onlyKey, "not a certificate\n");
    expect(propsErrorOf(() => new LoadBalancer(stack, "b", { defaultTarget: web, https: { certificateFile: onlyKey } })).message).toContain("holds no PEM certificate");
  });

  test("keyVariable names the key's variable; with certificateVariable the bundle holds the key unless keyVariable is set", () => {
    const { cert } = certificate();
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateFile: cert, keyVariable: "site_key" } });
    const json = synthJson(stack);
    expect(json.variable.site_key).toMatchObject({ sensitive: true });
    expect(json.variable.lb_tls_key).toBeUndefined();
    expect(json.resource.docker_container["container-lb"].upload.find((u: any) => u.file.endsWith("site.pem.key")).content).toBe("${var.site_key}");

    const split = newStack();
    new LoadBalancer(split, "lb", { defaultTarget: new WebTier(split, "web", { image: IMAGE, wsgiModule: WSGI }), https: { certificateVariable: "site_crt", keyVariable: "site_key" } });
    const splitJson = synthJson(split);
    expect(splitJson.variable.site_crt.description).toContain("certificate and chain");
    const files = splitJson.resource.docker_container["container-lb"].upload.map((u: any) => [u.file, u.content]);
    expect(files).toContainEqual(["/usr/local/etc/haproxy/certs/site.pem", "${var.site_crt}"]);
    expect(files).toContainEqual(["/usr/local/etc/haproxy/certs/site.pem.key", "${var.site_key}"]);

    const bundleOnly = newStack();
    new LoadBalancer(bundleOnly, "lb", { defaultTarget: new WebTier(bundleOnly, "web", { image: IMAGE, wsgiModule: WSGI }), https: { certificateVariable: "site_pem" } });
    const uploads = synthJson(bundleOnly).resource.docker_container["container-lb"].upload.map((u: any) => u.file);
    expect(uploads).not.toContain("/usr/local/etc/haproxy/certs/site.pem.key");
  });

  test("tlsProfile: modern renders TLS 1.3 only; HSTS opts out of includeSubDomains or into preload", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateVariable: "site_pem", tlsProfile: "modern", hsts: { includeSubDomains: false } } });
    const cfg = stack.cluster().plan.containers.find((c) => c.key === "lb")!.files.find((f) => f.path.endsWith("haproxy.cfg"))!.content;
    expect(cfg).toContain("ssl-min-ver TLSv1.3");
    expect(cfg).toContain('Strict-Transport-Security "max-age=63072000"');

    const preload = newStack();
    new LoadBalancer(preload, "lb", { defaultTarget: new WebTier(preload, "web", { image: IMAGE, wsgiModule: WSGI }), https: { certificateVariable: "site_pem", hsts: { preload: true } } });
    expect(preload.cluster().plan.containers.find((c) => c.key === "lb")!.files[0].content).toContain('"max-age=63072000; includeSubDomains; preload"');
  });

  test("a custom tlsProfile and HSTS are validated", () => {
    const stack = newStack();
    const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
    const lb = (id: string, https: object) => propsErrorOf(() => new LoadBalancer(stack, id, { defaultTarget: web, https: { certificateVariable: "site_pem", ...https } as any })).message;
    expect(lb("a", { tlsProfile: { protocols: ["TLSv1.1"], groups: ["X25519"] } })).toMatch(/https\.tlsProfile/);
    const problems = lb("b", {
      tlsProfile: { protocols: ["TLSv1.2", "TLSv1.3"], ciphers: ["RC4-SHA", "HIGH", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"], groups: ["X25519", "brainpool"] },
    });
    expect(problems).toContain("https.tlsProfile.ciphers.0: is a broken cipher");
    expect(problems).toContain("https.tlsProfile.ciphers.1: must be an OpenSSL TLS 1.2 cipher name");
    expect(problems).toMatch(/https\.tlsProfile\.groups\.1: Invalid option: expected one of "X25519"\|/);
    const lists = lb("b2", { tlsProfile: { protocols: ["TLSv1.2", "TLSv1.3"], ciphers: ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"], groups: ["X25519"] } });
    expect(lists).toContain("https.tlsProfile.ciphers: lists 'ECDHE-RSA-AES128-GCM-SHA256' twice");
    expect(lists).toContain("https.tlsProfile.ciphersuites: must list at least one cipher suite when protocols has TLSv1.3");
    expect(lb("b3", { tlsProfile: "old" })).toContain('https.tlsProfile: must be "intermediate", "modern" or lists of your own');
    expect(lb("c", { tlsProfile: { protocols: ["TLSv1.3"], ciphers: ["ECDHE-RSA-AES128-GCM-SHA256"], ciphersuites: ["TLS_AES_128_GCM_SHA256"], groups: ["X25519"] } })).toContain(
      "https.tlsProfile.ciphers: are TLS 1.2 ciphers, and protocols leaves TLSv1.2 out: remove them",
    );
    expect(lb("d", { hsts: { includeSubDomains: false, preload: true } })).toContain("https.hsts.preload: needs includeSubDomains");
    expect(lb("e", { certificateVariable: "site_pem", keyVariable: "site_pem" })).toContain("https.keyVariable: keyVariable and certificateVariable must be two variables");
  });
});

test("pre-start commands run in order before the app server, which then replaces the shell", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, server: "gunicorn", preStart: ["python3 manage.py collectstatic --noinput", "echo ready"] });
  new LoadBalancer(stack, "lb", { defaultTarget: web });
  Budgets.of(web).acknowledge("WS-APP-DATABASE", "a test tier without a database");
  const app = stack.cluster().plan.containers.find((c) => c.key === "web-1-app")!;
  expect(app.command).toEqual(["/bin/sh", "-c", 'set -e\npython3 manage.py collectstatic --noinput\necho ready\nexec "$@"', "pre-start", "gunicorn", "--config", "/etc/webstack/gunicorn.conf.py"]);
  expect(() => new WebTier(newStack(), "w", { image: IMAGE, wsgiModule: WSGI, preStart: ["a\nb"] })).toThrow(/preStart.0: one command per entry/);
});

test("the pre-start shell runs the commands, stops at the first failure, and execs the server with its arguments", () => {
  const { spawnSync } = require("node:child_process") as typeof import("node:child_process");
  const { withPreStart } = require("../lib/core/plan/web-tier") as typeof import("../lib/core/plan/web-tier");
  const run = (preStart: string[]) => {
    const [cmd, ...args] = withPreStart(preStart, ["sh", "-c", 'echo "server $$ $0"', "arg0"]);
    return spawnSync(cmd, args, { encoding: "utf8" });
  };
  const ok = run(["echo first", "echo second"]);
  expect(ok.status).toBe(0);
  expect(ok.stdout).toMatch(/^first\nsecond\nserver \d+ arg0\n$/);
  const failed = run(["echo first", "false", "echo never"]);
  expect(failed.status).not.toBe(0);
  expect(failed.stdout).toBe("first\n");
});

test("health checks send the site's host name, and a backend may probe its own path, Host and interval", () => {
  const stack = newStack();
  const db = new Database(stack, "db");
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI, database: db });
  const api = new WebTier(stack, "api", { image: IMAGE, wsgiModule: WSGI, database: db });
  new LoadBalancer(stack, "lb", {
    siteHost: "www.example.com",
    defaultTarget: web,
    routes: [{ name: "api", pathPrefix: "/api", target: api, healthCheck: { path: "/api/health", host: "api.example.com", interMs: 2000 } }],
  });
  const cfg = stack.cluster().plan.containers.find((c) => c.key === "lb")!.files[0].content;
  const backend = (name: string) => {
    const start = cfg.indexOf(`\nbackend ${name}\n`);
    return cfg.slice(start, cfg.indexOf("\n\n", start + 1));
  };
  expect(backend("app")).toContain("http-check send meth HEAD uri /ping ver HTTP/1.1 hdr Host www.example.com");
  expect(backend("app")).toContain("default-server check inter 5000 fastinter 1000");
  expect(backend("api")).toContain("http-check send meth HEAD uri /api/health ver HTTP/1.1 hdr Host api.example.com");
  expect(backend("api")).toContain("default-server check inter 2000 fastinter 1000");
  expect(() => new LoadBalancer(newStack(), "lb", { siteHost: "not a host", defaultTarget: web })).toThrow(/siteHost: must be a host name/);
});

test("a variable named like another secret of the stack is refused, not merged into it", () => {
  const stack = newStack();
  const web = new WebTier(stack, "web", { image: IMAGE, wsgiModule: WSGI });
  Budgets.of(web).acknowledge("WS-APP-DATABASE", "a test tier without a database");
  new LoadBalancer(stack, "lb", { defaultTarget: web, https: { certificateVariable: "lb_stats_password" } });
  expect(() => stack.cluster()).toThrow(/two secrets are named 'lb_stats_password': password of the HAProxy stats page of test\/lb/);
});
