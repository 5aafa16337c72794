// Marks a run of the e2e config (test/e2e/jest.config.js). The root jest config also matches
// test/e2e/*.test.ts; without this mark the engine-backed suites skip instead of starting dockerd.
process.env.WEBSTACK_E2E_SUITE = "1";
