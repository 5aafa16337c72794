import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClusterPlan, ContainerSpec } from "../lib";
import { writeRenderedFiles } from "../lib/docker/io";

const planOf = (files: Record<string, { content: string; executable?: boolean }[]>): ClusterPlan =>
  ({
    network: { name: "n", subnet: "172.30.0.0/16", gateway: "172.30.0.1" },
    volumes: [],
    secrets: [],
    containers: Object.entries(files).map(([key, fs]) => ({ key, files: fs.map((f, i) => ({ path: `/etc/x/${i}.conf`, content: f.content, executable: f.executable ?? false })) }) as unknown as ContainerSpec),
  }) as ClusterPlan;

describe("writeRenderedFiles", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-io-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (...p: string[]) => path.join(dir, "configs", ...p);

  test("a re-synth leaves unchanged files alone, rewrites changed ones and removes stale ones", () => {
    writeRenderedFiles(dir, planOf({ a: [{ content: "one" }, { content: "two" }], b: [{ content: "three" }] }), { "report.md": "r1" });
    const untouched = fs.statSync(file("a.0.conf"));
    fs.writeFileSync(file("a.stray.conf"), "left by hand");
    writeRenderedFiles(dir, planOf({ a: [{ content: "one" }, { content: "TWO", executable: true }] }), { "report.md": "r2" });

    expect(fs.statSync(file("a.0.conf"))).toMatchObject({ ino: untouched.ino, mtimeMs: untouched.mtimeMs });
    expect(fs.readFileSync(file("a.1.conf"), "utf8")).toBe("TWO");
    expect(fs.statSync(file("a.1.conf")).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(file("a.stray.conf"))).toBe(false);
    // b's files are gone.
    expect(fs.existsSync(file("b.0.conf"))).toBe(false);
    expect(fs.readFileSync(path.join(dir, "report.md"), "utf8")).toBe("r2");
  });

  test("a folder per container, the layout before 0.2, is removed with its files", () => {
    fs.mkdirSync(file("a"), { recursive: true });
    fs.writeFileSync(file("a", "0.conf"), "one");
    writeRenderedFiles(dir, planOf({ a: [{ content: "one" }] }), {});
    expect(fs.readdirSync(file())).toEqual(["a.0.conf"]);
  });

  test("a mode change alone is applied", () => {
    writeRenderedFiles(dir, planOf({ a: [{ content: "one", executable: true }] }), {});
    expect(fs.statSync(file("a.0.conf")).mode & 0o777).toBe(0o755);
  });

  test("two files of one container with the same name are refused before anything is written", () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-io-"));
    const plan = { ...planOf({ a: [{ content: "one" }] }) };
    const twice = { ...plan, containers: [{ ...plan.containers[0], files: [
      { path: "/etc/a/x.conf", content: "1", executable: false },
      { path: "/etc/b/x.conf", content: "2", executable: false },
    ] }] } as unknown as ClusterPlan;
    expect(() => writeRenderedFiles(fresh, twice, {})).toThrow("container a has two files named x.conf");
    expect(fs.readdirSync(fresh)).toEqual([]);
    fs.rmSync(fresh, { recursive: true, force: true });
  });
});
