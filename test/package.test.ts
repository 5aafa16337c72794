import { execFileSync } from "node:child_process";
import * as path from "node:path";

test("the tarball holds only what users run: compiled lib and bin, their sources, README, LICENSE, CHANGELOG", () => {
  const root = path.join(__dirname, "..");
  const [pack] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" }));
  const files: string[] = pack.files.map((f: { path: string }) => f.path);
  const allowed = /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/(lib|bin)\/.*\.(js|d\.ts|js\.map|d\.ts\.map)|lib\/.*\.ts)$/;
  expect(files.filter((f) => !allowed.test(f))).toEqual([]);
  expect(files).toEqual(expect.arrayContaining(["LICENSE", "CHANGELOG.md", "README.md", "lib/index.ts", "lib/testing.ts"]));
  expect(files.some((f) => /^(test|bench|examples|scripts|\.ci)\//.test(f))).toBe(false);
}, 60000);
