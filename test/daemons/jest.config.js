/** Daemon suite: renders real configs and runs the real daemons. Run with `npm run test:daemons` (as root, Linux). */
/** @type {import('jest').Config} */
module.exports = {
  rootDir: "../..",
  testEnvironment: "node",
  roots: ["<rootDir>/test/daemons"],
  testMatch: ["<rootDir>/test/daemons/**/*.test.ts"],
  transform: { "^.+\\.tsx?$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }] },
  setupFiles: ["<rootDir>/test/setup-env.js"],
  testTimeout: 240000,
  // Daemons are heavy on a small machine; one file at a time keeps boot times predictable.
  maxWorkers: 1,
};
