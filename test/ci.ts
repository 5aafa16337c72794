/**
 * Whether this run is CI. The daemon and e2e suites read it in one place so they agree: in CI a
 * missing prerequisite fails the run, locally it only skips.
 */
export const CI = process.env.CI === "true" || process.env.CI === "1";
