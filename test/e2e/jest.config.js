/** End-to-end suite: deploys synthesized stacks onto a private Docker engine. See test/e2e/README.md. */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test/e2e"],
  testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
  transform: { "^.+\\.tsx?$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }] },
  setupFiles: ["<rootDir>/test/setup-env.js", "<rootDir>/test/e2e/setup-e2e.js"],
  // Image builds (cold: a few minutes) happen in beforeAll.
  testTimeout: 15 * 60_000,
  maxWorkers: 1,
};
