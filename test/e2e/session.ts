/**
 * What every e2e file shares around its tests: whether the suite runs at all (only under
 * test/e2e/jest.config.js; with CI=true a missing prerequisite fails, locally it skips), and the
 * session: the suite lock, a synth of one example into a temporary folder, the engine and the images,
 * then destroy, engine stop and clean-up, also after a failure.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  acquireSuiteLock,
  CI,
  destroy,
  ensureImages,
  imagesOf,
  missingPrerequisites,
  releaseSuiteLock,
  startEngine,
  stopEngine,
  type Handle,
} from "./applier";

const ROOT = path.resolve(__dirname, "../..");
const IN_E2E_RUN = process.env.WEBSTACK_E2E_SUITE === "1";
const gone = IN_E2E_RUN ? missingPrerequisites() : [];

/**
 * `describe` when the suite can run (or must fail in CI), `describe.skip` otherwise. Outside jest
 * (bench/proxy-chain.ts imports this module) there is no `describe`: undefined there.
 */
export const describeE2e: jest.Describe =
  typeof describe === "undefined" ? (undefined as unknown as jest.Describe) : !IN_E2E_RUN || (gone.length && !CI) ? describe.skip : describe;

export interface Session {
  /** Synth output folder of the example (temporary). */
  outdir: string;
  /** Its stack's cdk.tf.json. */
  tfJson: string;
  /** The applied cluster, set by the test that applies it; destroyed by closeSession. */
  handle?: Handle;
  engineStarted: boolean;
  locked: boolean;
}

export function newSession(): Session {
  return { outdir: "", tfJson: "", engineStarted: false, locked: false };
}

/**
 * Takes the suite lock, synthesizes `examples/<example>` (or the stack `main`, a path from the repository
 * root, whose stack id is `example`), starts the engine and builds or finds the images.
 */
export async function openSession(session: Session, example: string, log: (line: string) => void, main = `examples/${example}/main.ts`): Promise<void> {
  // Outside the e2e jest run (a bench command) the prerequisites were not checked at load: check now.
  const missing = IN_E2E_RUN ? gone : missingPrerequisites();
  if (missing.length) throw new Error(`missing: ${missing.join(", ")} (CI=true: the e2e suite never skips; install docker.io and debootstrap, run as root)`);
  await acquireSuiteLock();
  session.locked = true;
  session.outdir = fs.mkdtempSync(path.join(os.tmpdir(), "webstack-e2e-synth-"));
  const synth = spawnSync("npx", ["tsx", main], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, CDKTF_OUTDIR: session.outdir },
    timeout: 120_000,
  });
  if (synth.status !== 0) throw new Error(`synth of ${main} failed (${synth.status}):\n${synth.stdout}${synth.stderr}`);
  session.tfJson = path.join(session.outdir, "stacks", example, "cdk.tf.json");
  if (!fs.existsSync(session.tfJson)) throw new Error(`synth wrote no ${session.tfJson}`);
  const t0 = Date.now();
  log(startEngine().trim());
  session.engineStarted = true;
  log(`engine ready in ${Date.now() - t0} ms`);
  const t1 = Date.now();
  const images = imagesOf(session.tfJson);
  for (const line of ensureImages(images).trim().split("\n")) log(line);
  log(`images ${images.join(", ")} ready in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
}

/** Destroys the cluster, stops the engine (unless WEBSTACK_E2E_KEEP_ENGINE=1), removes the synth output, releases the lock. */
export async function closeSession(session: Session, log: (line: string) => void): Promise<void> {
  if (session.handle) await destroy(session.handle).catch((e) => log(`destroy in afterAll failed: ${e}`));
  if (session.engineStarted && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") log(stopEngine().trim());
  if (session.outdir) fs.rmSync(session.outdir, { recursive: true, force: true });
  if (session.locked) releaseSuiteLock();
}
