/**
 * End-to-end: examples/django-site (a real Django 3.2 project from Debian's packages, app image
 * webstack-django-site:0.1 built from examples/django-site/app). Synth once; first a copy whose
 * release command fails: the apply fails at the release container's postcondition with its message,
 * and no web or worker container was ever created (engine events). Then the real one: every
 * container healthy while Django answers only its own host name (ALLOWED_HOSTS = www.example.com);
 * the migrations ran once, in the release container, before any web node or Celery container
 * started (container times, django_migrations, logs); the static files collectstatic wrote
 * (ManifestStaticFilesStorage's hashed name) are served by nginx from the volume; a task
 * DatabaseScheduler schedules every 2 s (registered by a data migration) writes rows; the
 * X-Request-ID of a response is the one Django logged; on the upload route POST /upload/ (12 s
 * pause limit), a client pausing 10 s mid-body (past uWSGI's default 4 s socket-timeout) gets 200
 * with the sha256 of its whole body from Django, one pausing 17 s is cut near 12 s by nginx and
 * Django sees the short body; destroy (also in afterAll after a failure).
 * All traffic goes to 127.0.0.1:8080 (the load balancer) or into the stack's own containers.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Testing } from "cdktf";
import { DJANGO_SITE_HOST, DJANGO_SITE_UPLOAD, buildDjangoSiteStack } from "../../examples/django-site/stack";
import { apply, destroy, exec, fmtProblem, generateVariables, inspect, templateProblems, waitHealthy } from "./applier";
import { request } from "./docker-api";
import { figure, logLines, psql, req, sleep, type Res } from "./scenarios";
import { closeSession, describeE2e, newSession, openSession } from "./session";
import { expectDestroyed } from "./shared-scenarios";
import { slowUploadScenario } from "./slow-upload-scenario";
import { hclTemplateErrors } from "./terraform-templates";

const LB_PORT = 8080; // django-site's LoadBalancer httpPort
const HOST = { Host: DJANGO_SITE_HOST };
const log = (...a: unknown[]) => process.stdout.write(`[e2e django-site] ${a.join(" ")}\n`);
const time = (iso: string) => Date.parse(iso);

/** Names of the containers the engine created since `sinceMs` (create events, in order). */
async function createdSince(sinceMs: number): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ type: ["container"], event: ["create"] }));
  const r = await request("GET", `/events?since=${Math.floor(sinceMs / 1000) - 1}&until=${Math.ceil(Date.now() / 1000) + 1}&filters=${filters}`);
  if (r.status !== 200) throw new Error(`events: ${r.status} ${r.body.toString()}`);
  return r.body
    .toString()
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { time: number; Actor: { Attributes: { name: string } } })
    .filter((e) => e.time * 1000 >= sinceMs - 1000)
    .map((e) => e.Actor.Attributes.name);
}

/** GET through the load balancer with the site's Host, a few tries 1 s apart until `want`. */
async function get(urlPath: string, want = 200, tries = 10, headers: Record<string, string> = {}): Promise<Res> {
  let last: Res = { status: 0, body: "", headers: {} };
  for (let i = 0; i < tries; i++) {
    last = await req(LB_PORT, "GET", urlPath, { ...HOST, ...headers }).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
    if (last.status === want) return last;
    await sleep(1000);
  }
  return last;
}

describeE2e("e2e: examples/django-site (Django 3.2, Celery beat with DatabaseScheduler) on a real Docker engine", () => {
  const session = newSession();
  type Cluster = ReturnType<ReturnType<typeof buildDjangoSiteStack>["cluster"]>;
  let cluster: Cluster;
  const name = (key: string) => {
    const c = cluster.plan.containers.find((x) => x.key === key);
    if (!c) throw new Error(`no container ${key} in the model`);
    return c.name;
  };
  let serving = false;

  beforeAll(async () => {
    cluster = buildDjangoSiteStack(Testing.app()).cluster();
    await openSession(session, "django-site", log);
  });

  afterAll(() => closeSession(session, log));

  test("every string of cdk.tf.json is a valid Terraform template, the release's postcondition included", async () => {
    expect(templateProblems(session.tfJson).map(fmtProblem)).toEqual([]);
    expect(await hclTemplateErrors(session.tfJson)).toEqual([]);
    const release = JSON.parse(fs.readFileSync(session.tfJson, "utf8")).resource.docker_container["container-web-release"];
    expect(release.lifecycle.postcondition[0].condition).toBe("${self.exit_code == 0}");
  });

  test("a failing release command fails the apply with the release's message; no web node or worker is created", async () => {
    const doc = JSON.parse(fs.readFileSync(session.tfJson, "utf8"));
    const release = doc.resource.docker_container["container-web-release"];
    const script = release.upload.find((u: { file: string }) => u.file === "/etc/webstack/release.sh");
    const good = "python3 manage.py migrate --noinput";
    expect(script.content.split(good)).toHaveLength(3); // the command and the line that prints it, nothing else
    script.content = script.content.split(good).join("python3 manage.py migrate --noinput no_such_app");
    const broken = path.join(session.outdir, "broken-release.tf.json");
    fs.writeFileSync(broken, JSON.stringify(doc));
    const since = Date.now();
    const t0 = Date.now();
    const err = await apply(broken, generateVariables(broken), { replaceLeftovers: true }).then(
      // Had it been applied (it must not), nothing of it may stay behind.
      async (h) => void (await destroy(h)),
      (e: Error) => e,
    );
    figure("django_failed_release_apply_ms", Date.now() - t0);
    expect(err).toBeDefined();
    log(`apply failed as it must:\n${err!.message}`);
    expect(err!.message).toMatch(/^Resource postcondition failed for docker_container\.container-web-release: The release steps of django-site\/web failed/);
    expect(err!.message).toMatch(/condition \$\{self\.exit_code == 0\}: self\.exit_code is 1/);
    expect(err!.message).toMatch(/No installed app with label 'no_such_app'/);
    const created = await createdSince(since);
    log(`containers created by that apply: ${created.join(", ")}`);
    expect(created.sort()).toEqual([name("db-primary"), name("redis"), name("web-release")].sort());
    // The failed apply destroyed what it made (as the applier does), so the real one starts clean.
    for (const n of created) expect((await request("GET", `/containers/${encodeURIComponent(n)}/json`)).status).toBe(404);
  });

  test("applies; every container is healthy while Django answers only www.example.com", async () => {
    const t0 = Date.now();
    session.handle = await apply(session.tfJson, generateVariables(session.tfJson), { replaceLeftovers: true });
    const handle = session.handle;
    log(`applied ${handle.containers.length} containers in ${handle.applyMs} ms`);
    figure("django_apply_ms", handle.applyMs);
    const health = await waitHealthy(handle, 180_000);
    log(`health after ${(health.elapsedMs / 1000).toFixed(1)} s: ${JSON.stringify(health.status)}`);
    if (!health.ok) log(`NOT HEALTHY:\n${health.details}`);
    expect(health.details).toBe("");
    figure("django_healthy_after_apply_start_s", ((Date.now() - t0) / 1000).toFixed(1));
    expect(handle.containers.map((c) => c.name).sort()).toEqual(cluster.plan.containers.map((c) => c.name).sort());
    expect(handle.containers.filter((c) => c.oneShot).map((c) => [c.name, c.exitCode])).toEqual([[name("web-release"), 0]]);

    for (const key of ["web-1-app", "web-2-app", "worker-1", "worker-beat"]) {
      expect((await exec(name(key), ["printenv", "DJANGO_ALLOWED_HOSTS"])).output.trim()).toBe(DJANGO_SITE_HOST);
    }
    const home = await get("/");
    log(`GET / (Host: ${DJANGO_SITE_HOST}) -> ${home.status}`);
    expect(home.status).toBe(200);
    expect(home.body).toContain("<h1>django-site</h1>");
    // Any other Host is refused by Django itself (DisallowedHost): the checks above passed only by sending the site's name.
    const other = await req(LB_PORT, "GET", "/");
    log(`GET / (Host: 127.0.0.1:${LB_PORT}) -> ${other.status}`);
    expect(other.status).toBe(400);
    serving = true;
  });

  test("the migrations ran once, in the release container, before any web node or Celery container started", async () => {
    expect(serving).toBe(true);
    const rel = await inspect(name("web-release"));
    const [relStart, relEnd] = [time(rel.State.StartedAt), time(rel.State.FinishedAt)];
    expect(rel.State.ExitCode).toBe(0);
    figure("django_release_ms", relEnd - relStart);
    const relLog = (await logLines(name("web-release"), relStart - 5000)).map((l) => l.line);
    log(`release log:\n  ${relLog.join("\n  ")}`);
    expect(relLog).toContain("release: python3 manage.py migrate --noinput");
    // It started with PostgreSQL's first boot and waited until a login was possible.
    const ready = (await logLines(name("web-release"), relStart - 5000)).find((l) => /^release: [\d.]+:5432 accepts connections$/.test(l.line));
    expect(ready).toBeDefined();
    figure("django_release_waited_for_postgres_ms", ready!.t - relStart);
    expect(relLog.filter((l) => /Applying pages\.0002_tick_schedule\.\.\. OK/.test(l))).toHaveLength(1);
    expect(relLog[relLog.length - 1]).toBe("release: done");

    const rows = (await psql(name("db-primary"), "app", "select app || '.' || name || ' ' || extract(epoch from applied) * 1000 from django_migrations order by id")).split("\n");
    const applied = rows.map((r) => ({ migration: r.split(" ")[0], at: Number(r.split(" ")[1]) }));
    const names = applied.map((a) => a.migration);
    log(`django_migrations: ${applied.length} rows, e.g. ${names.slice(0, 3).join(", ")} ... ${names.slice(-2).join(", ")}`);
    figure("django_migrations_applied", applied.length);
    expect(names).toContain("pages.0002_tick_schedule");
    expect(new Set(names).size).toBe(names.length); // each once
    for (const a of applied) {
      expect(a.at).toBeGreaterThanOrEqual(relStart - 1000);
      expect(a.at).toBeLessThanOrEqual(relEnd + 1000);
    }
    // Every other app-image container started after the release had exited, and never ran a migration.
    let firstGap = Infinity;
    for (const key of ["web-1-app", "web-2-app", "worker-1", "worker-beat"]) {
      const started = time((await inspect(name(key))).State.StartedAt);
      expect(started).toBeGreaterThan(relEnd);
      firstGap = Math.min(firstGap, started - relEnd);
      const lines = (await logLines(name(key), relStart - 5000)).map((l) => l.line);
      expect(lines.filter((l) => /Applying \w+\.\d{4}/.test(l))).toEqual([]);
    }
    figure("django_release_end_to_first_app_start_ms", firstGap);
  });

  test("nginx serves the static files collectstatic wrote into each node's volume", async () => {
    expect(serving).toBe(true);
    const ticks = await get("/ticks");
    expect(ticks.status).toBe(200);
    const css = (JSON.parse(ticks.body) as { css: string }).css;
    // ManifestStaticFilesStorage's hashed name: it exists only where collectstatic ran, not in the image.
    expect(css).toMatch(/^\/static\/pages\/site\.[0-9a-f]{12}\.css$/);
    for (const node of ["web-1", "web-2"]) {
      const ls = await exec(name(`${node}-nginx`), ["ls", "/srv/static/pages"]);
      expect(ls.output.split("\n")).toContain(path.basename(css));
    }
    const since = Date.now() - 1000;
    const file = await get(css);
    log(`GET ${css} -> ${file.status} (${file.headers["content-type"]}, ${file.body.length} bytes)`);
    expect(file.status).toBe(200);
    expect(file.headers["content-type"]).toMatch(/^text\/css/);
    expect(file.body).toContain("collected by collectstatic");
    await sleep(500);
    // nginx answered it alone: no app server saw the request.
    for (const key of ["web-1-app", "web-2-app"]) expect((await logLines(name(key), since)).filter((l) => l.line.includes(css))).toEqual([]);
  });

  test("a task that django_celery_beat's DatabaseScheduler schedules every 2 s runs in the worker", async () => {
    expect(serving).toBe(true);
    const t0 = Date.now();
    let count = 0;
    for (let i = 0; i < 45 && count < 3; i++) {
      count = (JSON.parse((await get("/ticks")).body) as { count: number }).count;
      if (count < 3) await sleep(1000);
    }
    figure("django_beat_ticks_seen", count);
    figure("django_beat_wait_ms", Date.now() - t0);
    expect(count).toBeGreaterThanOrEqual(3);
    const beat = (await logLines(name("worker-beat"), 0)).map((l) => l.line);
    log(`beat log (first 14 lines):\n  ${beat.slice(0, 14).join("\n  ")}`);
    expect(beat.some((l) => /\. scheduler -> django_celery_beat\.schedulers\.DatabaseScheduler$/.test(l))).toBe(true);
    expect(beat.some((l) => /Scheduler: Sending due task tick every 2 s \(pages\.tasks\.tick\)/.test(l))).toBe(true);
    const worker = (await logLines(name("worker-1"), 0)).map((l) => l.line);
    expect(worker.some((l) => /Task pages\.tasks\.tick\[[0-9a-f-]+\] succeeded/.test(l))).toBe(true);
    const byWorker = await psql(name("db-primary"), "app", "select count(distinct worker) || ' ' || count(*) from pages_tick");
    log(`pages_tick: distinct workers, rows = ${byWorker}`);
    expect(byWorker.split(" ")[0]).toBe("1");
  });

  test("the X-Request-ID returned to the client is the one Django logged", async () => {
    expect(serving).toBe(true);
    const since = Date.now() - 1000;
    const res = await get("/");
    expect(res.status).toBe(200);
    const id = String(res.headers["x-request-id"] ?? "");
    expect(id).toMatch(/^[0-9a-f-]{36}$/); // HAProxy's unique id
    expect(res.body).toContain(`request ${id}`);
    let found: string[] = [];
    for (let i = 0; i < 20 && found.length === 0; i++) {
      for (const key of ["web-1-app", "web-2-app"]) {
        if ((await logLines(name(key), since)).some((l) => l.line.includes(`INFO pages home request_id=${id} host=${DJANGO_SITE_HOST}`))) found.push(key);
      }
      if (found.length === 0) await sleep(250);
    }
    log(`request_id=${id} logged by Django in ${found.join(", ")}`);
    expect(found).toHaveLength(1);
  });

  test(`a client pausing past uWSGI's default 4 s socket-timeout uploads to ${DJANGO_SITE_UPLOAD.path}; one pausing past ${DJANGO_SITE_UPLOAD.clientPauseSeconds} s is cut`, async () => {
    expect(serving).toBe(true);
    const limit = DJANGO_SITE_UPLOAD.clientPauseSeconds;
    const since = Date.now() - 1000;
    const { within, past } = await slowUploadScenario(`http://127.0.0.1:${LB_PORT}`, DJANGO_SITE_UPLOAD.path, limit, DJANGO_SITE_HOST);
    log(`within (${Math.max(6, limit - 2)} s pause): status ${within.status}, ${within.elapsed} s, body ${within.body.trim()}`);
    log(`past (${limit + 5} s pause): status ${past.status}, cut after ${past.cutAfter} s, error ${past.error}, ${past.elapsed} s`);
    figure("django_upload_within_pause_s", Math.max(6, limit - 2));
    figure("django_upload_within_status", String(within.status));
    figure("django_upload_within_elapsed_s", within.elapsed);
    figure("django_upload_past_pause_s", limit + 5);
    figure("django_upload_past_status", String(past.status));
    figure("django_upload_past_cut_after_s", String(past.cutAfter));
    // Django itself read the whole body: its count and hash, not only a 2xx from some layer.
    const answer = JSON.parse(within.body) as { bytes: number; sha256: string };
    expect(answer).toEqual({ bytes: 262144, sha256: within.sentSha256 });
    // Both reached Django (streamed, not buffered by nginx): one logged the whole body, the other the cut.
    let lines: string[] = [];
    for (let i = 0; i < 20; i++) {
      lines = [];
      for (const key of ["web-1-app", "web-2-app"]) lines.push(...(await logLines(name(key), since)).map((l) => l.line));
      if (lines.some((l) => l.includes("upload cut"))) break;
      await sleep(250);
    }
    const uploads = lines.filter((l) => /INFO pages upload |WARNING pages upload cut/.test(l));
    log(`Django's upload log lines:\n  ${uploads.join("\n  ")}`);
    expect(uploads.filter((l) => l.includes(`INFO pages upload bytes=262144 sha256=${within.sentSha256}`))).toHaveLength(1);
    expect(uploads.filter((l) => /WARNING pages upload cut: read \d+ of 262144 bytes$/.test(l))).toHaveLength(1);
  });

  test("destroys: no container, network or volume of the stack is left", () => expectDestroyed(session, cluster.plan.network.name, "django-site-"));
});
