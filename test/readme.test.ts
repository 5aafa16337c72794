import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.join(__dirname, "..");
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);

/** The README's files (shop.ts, main.ts, measured.ts, __tests__/shop.test.ts) in a scratch folder of the repository, importing ../lib. */
function readmeProject(): string {
  // Inside the repository (in the git-ignored .scratch/), so the files resolve cdktf from node_modules.
  fs.mkdirSync(path.join(root, ".scratch"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, ".scratch", "readme-"));
  const written = execFileSync("node", [path.join(root, "scripts", "readme-files.js"), dir, "--import-from", path.join(root, "lib")], { encoding: "utf8" });
  expect(written.trim().split("\n").sort()).toEqual(["__tests__/shop.test.ts", "django-site.ts", "main.ts", "measured.ts", "shop.ts"]);
  return dir;
}

test("the README's stack file synthesizes as printed", () => {
  const dir = readmeProject();
  try {
    const out = execFileSync(bin("tsx"), [path.join(dir, "main.ts")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: path.join(dir, "out") }, encoding: "utf8" });
    expect(out).toMatch(/^shop: 11 containers; budgets: \d+ passed, 0 warned, 0 acknowledged/);
    const report = JSON.parse(fs.readFileSync(path.join(dir, "out", "stacks", "shop", "capacity.json"), "utf8"));
    expect(report.findings.filter((f: { status: string }) => f.status === "fail")).toEqual([]);
    expect(report.containers.map((c: { key: string }) => c.key)).toContain("web-2-app");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);

test("the README's Django site (Wiring your app) synthesizes: its release container before the web nodes and workers", () => {
  const dir = readmeProject();
  try {
    fs.writeFileSync(
      path.join(dir, "django-main.ts"),
      `import { synthOrExit } from ${JSON.stringify(path.join(root, "lib"))};\nimport { buildDjangoSite } from "./django-site";\nsynthOrExit(buildDjangoSite);\n`,
    );
    const out = execFileSync(bin("tsx"), [path.join(dir, "django-main.ts")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: path.join(dir, "out") }, encoding: "utf8" });
    expect(out).toMatch(/^django-site: 10 containers; budgets: \d+ passed, 0 warned, 0 acknowledged/);
    const tf = JSON.parse(fs.readFileSync(path.join(dir, "out", "stacks", "django-site", "cdk.tf.json"), "utf8"));
    const containers = tf.resource.docker_container;
    expect(containers["container-web-release"]).toMatchObject({ attach: true, must_run: false, restart: "no" });
    for (const key of ["web-1-app", "web-2-app", "worker-1", "worker-beat"]) expect(containers[`container-${key}`].depends_on).toContain("docker_container.container-web-release");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);

test("the README's testing example passes", () => {
  const dir = readmeProject();
  try {
    const config = {
      rootDir: dir,
      testMatch: ["**/__tests__/**/*.test.ts"],
      transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }] },
    };
    // --ci=false: the example writes its first snapshot, as it does in a new project.
    execFileSync(bin("jest"), ["--config", JSON.stringify(config), "--ci=false", "--rootDir", dir], { cwd: root, encoding: "utf8", stdio: "pipe" });
    expect(fs.readdirSync(path.join(dir, "__tests__", "__snapshots__"))).toEqual(["shop.test.ts.snap"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);

test("the README's measured stack compiles and, before a measurement exists, says how to write one", () => {
  const dir = readmeProject();
  try {
    fs.writeFileSync(
      path.join(dir, "run-measured.ts"),
      'import { App } from "cdktf";\nimport { buildMeasured } from "./measured";\ntry { buildMeasured(new App()); } catch (e) { console.log((e as Error).message); }\n',
    );
    const out = execFileSync(bin("tsx"), [path.join(dir, "run-measured.ts")], { cwd: dir, env: { ...process.env, CDKTF_OUTDIR: path.join(dir, "out") }, encoding: "utf8" });
    expect(out).toContain("measured-site/web");
    expect(out).toContain("measurement: measurements/measured-site-web.json cannot be read (ENOENT); write it with: npx cdktf-webstack measure --tier measured-site/web");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
