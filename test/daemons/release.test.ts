/**
 * The rendered release container's files, run for real: release.sh started together with a rendered
 * PostgreSQL primary on its first boot waits (wait-for-services.py speaks the startup protocol) until
 * the app role can log in, then runs its commands with the app's environment; a failing command stops
 * the rest and the script exits non-zero (the deploy's postcondition then fails); the probe gives up
 * with its message past its limit.
 */
import { Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf, type Container } from "./harness";
import { itWithPostgres } from "./postgres-helpers";

const it = itWithPostgres;
const RELEASE = "/etc/webstack/release.sh";
const PROBE = "/etc/webstack/wait-for-services.py";

function releaseStack(release: string[], withDatabase: boolean): Container[] {
  return containersOf((scope) => {
    const stack = new WebStack(scope, "rel", { subnet: "127.0.0.0/16" });
    const database = withDatabase ? new Database(stack, "db", { maxConnections: 20, memoryMiB: 512 }) : undefined;
    const web = new WebTier(stack, "web", { nodes: 1, processes: 1, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database, release });
    new LoadBalancer(stack, "lb", { defaultTarget: web });
    return stack;
  });
}

describe("release steps, as rendered", () => {
  it("release.sh waits through PostgreSQL's first boot, then runs its commands with the app's environment", async () => {
    const cs = releaseStack(
      ['psql "$DATABASE_URL" -X -v ON_ERROR_STOP=1 -c "create table released (at timestamptz default now())"', 'psql "$DATABASE_URL" -X -c "insert into released default values"'],
      true,
    );
    const primary = container(cs, "db-primary");
    const release = container(cs, "web-release");
    expect(release.command).toEqual(["/bin/sh", RELEASE]);
    const box = new Sandbox("release-pg", {
      files: [...primary.files, ...release.files],
      setup: "mkdir -p /var/lib/postgresql/data /var/run/postgresql && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql",
    });
    try {
      // PostgreSQL's first boot (initdb, init.sql without TCP, restart) and the release start together, as after a fresh apply.
      await box.start({ user: primary.user ?? "postgres", argv: primary.command, env: primary.env });
      const t0 = Date.now();
      // The control: at this moment the app cannot log in yet (initdb runs, then init.sql without TCP).
      const early = await box.exec(["psql", release.env.DATABASE_URL, "-X", "-c", "select 1"], { user: "nobody", env: { PGCONNECT_TIMEOUT: "2" } });
      expect(early.code).not.toBe(0);
      const r = await box.exec(release.command as string[], { user: "nobody", env: release.env, timeoutMs: 180_000 });
      const out = r.stdout + r.stderr;
      if (r.code !== 0) throw new Error(`release.sh exited ${r.code}:\n${out}\n--- postgres log ---\n${box.log()}`);
      expect(out).toMatch(/^release: 127\.0\.1\.10:5432 accepts connections$/m);
      expect(out).toMatch(/^INSERT 0 1$/m);
      expect(out.trim().split("\n").pop()).toBe("release: done");
      // eslint-disable-next-line no-console
      console.log(`release.sh finished ${Date.now() - t0} ms after PostgreSQL's first boot began`);
      const rows = await box.exec(["psql", "-X", "-At", "-U", "postgres", "-d", "app", "-c", "select count(*) from released"], { user: "postgres" });
      expect(rows.stdout.trim()).toBe("1");
    } finally {
      await box.stop();
    }
  });

  it("a failing command stops the release with its exit code; the commands after it never run", async () => {
    const release = container(releaseStack(["echo first > /tmp/first", "exit 7", "echo never > /tmp/never"], false), "web-release");
    // Not wired to any service: nothing to wait for.
    expect(release.files.find((f) => f.path === RELEASE)!.content).not.toContain(PROBE);
    const box = new Sandbox("release-fail", { files: release.files });
    try {
      await box.start({ user: "nobody", argv: ["sleep", "60"], env: {} });
      const r = await box.exec(release.command as string[], { user: "nobody", env: release.env });
      expect(r.code).toBe(7);
      expect(r.stdout).toBe("release: echo first > /tmp/first\nrelease: exit 7\n");
      expect((await box.exec(["cat", "/tmp/first"])).stdout).toBe("first\n");
      expect((await box.exec(["test", "-e", "/tmp/never"])).code).toBe(1);
    } finally {
      await box.stop();
    }
  });

  it("the readiness probe gives up past its limit, naming the service and why", async () => {
    const release = container(releaseStack(["true"], true), "web-release");
    const box = new Sandbox("release-probe", { files: release.files });
    try {
      await box.start({ user: "nobody", argv: ["sleep", "60"], env: {} });
      const t0 = Date.now();
      const r = await box.exec(["python3", PROBE, "2", "postgres:127.0.9.9:5432:app:app"], { user: "nobody" });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/^release: 127\.0\.9\.9:5432 did not accept connections within 2 s: .*Connection refused/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
    } finally {
      await box.stop();
    }
  });
});
