#!/usr/bin/env node
/**
 * Writes the README's file examples (each ```ts block whose first line is `// <path>.ts ...`) into
 * a folder, so tests and the consumer check run exactly what the README prints.
 * Usage: node scripts/readme-files.js OUTDIR [--import-from MODULE_PATH]
 *   --import-from replaces the package name with a path (for running inside this repository).
 */
const fs = require("node:fs");
const path = require("node:path");

function readmeFiles(readme) {
  const files = {};
  for (const m of readme.matchAll(/```ts\n\/\/ (\S+\.ts)\b[^\n]*\n([\s\S]*?)```/g)) files[m[1]] = m[2];
  return files;
}

if (require.main === module) {
  const [outdir, flag, importFrom] = process.argv.slice(2);
  if (!outdir) {
    process.stderr.write("usage: node scripts/readme-files.js OUTDIR [--import-from MODULE_PATH]\n");
    process.exit(2);
  }
  const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  for (const [file, code] of Object.entries(readmeFiles(readme))) {
    const text = flag === "--import-from" ? code.replace(/"cdktf-webstack(\/[a-z]+)?"/g, (_, sub) => JSON.stringify(path.join(importFrom, sub ?? "index"))) : code;
    fs.mkdirSync(path.dirname(path.join(outdir, file)), { recursive: true });
    fs.writeFileSync(path.join(outdir, file), text);
    process.stdout.write(`${file}\n`);
  }
}

module.exports = { readmeFiles };
