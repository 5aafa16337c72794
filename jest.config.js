/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // The daemon and Docker suites have their own configs and needs (root, daemons, an engine).
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/daemons/", "<rootDir>/test/e2e/"],
  transform: { "^.+\\.tsx?$": ["@swc/jest", { jsc: { parser: { syntax: "typescript" }, target: "es2022" } }] },
  setupFiles: ["<rootDir>/test/setup-env.js"],
  setupFilesAfterEnv: ["<rootDir>/test/setup-jest.ts"],
};
