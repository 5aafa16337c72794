import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

test("the README's stack example synthesizes as printed", () => {
  const root = path.join(__dirname, "..");
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const code = /```ts\n(import \{ App \}[\s\S]*?)```/.exec(readme)![1].replace('from "cdktf-webstack"', `from ${JSON.stringify(path.join(root, "lib"))}`);
  // Inside the repository (in the git-ignored .scratch/), so the example resolves cdktf from node_modules.
  fs.mkdirSync(path.join(root, ".scratch"), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, ".scratch", "readme-"));
  try {
    fs.writeFileSync(path.join(dir, "main.ts"), code);
    execFileSync(path.join(root, "node_modules", ".bin", "tsx"), [path.join(dir, "main.ts")], { env: { ...process.env, CDKTF_OUTDIR: path.join(dir, "out") }, stdio: "pipe" });
    const report = JSON.parse(fs.readFileSync(path.join(dir, "out", "stacks", "shop", "capacity.json"), "utf8"));
    expect(report.findings.filter((f: { status: string }) => f.status === "fail")).toEqual([]);
    expect(report.containers.map((c: { key: string }) => c.key)).toContain("web-2-app");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
