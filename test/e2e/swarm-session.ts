/**
 * The machine side of a swarm e2e file: the suite lock, the e2e engine (it builds the images), three
 * node daemons with those images loaded, and their removal, the host firewall read before and after.
 * Each swarm test file owns one session; what it deploys on the swarm it destroys before `down`.
 */
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { acquireSuiteLock, ensureImages, releaseSuiteLock, startEngine, stopEngine } from "./applier";

const swarmSh = (...args: string[]) => execFileSync(path.join(__dirname, "swarm.sh"), args, { encoding: "utf8", timeout: 15 * 60_000 });
const iptables = () => execFileSync("iptables", ["-S"], { encoding: "utf8" });

export class SwarmSession {
  private locked = false;
  private engine = false;
  private swarmUp = false;
  private iptablesBefore = "";

  constructor(private readonly log: (line: string) => void) {}

  /** Three managers, host `n` with the roles `roles[n - 1]`, each holding `images`. */
  async up(roles: readonly (readonly string[])[], images: readonly string[]): Promise<void> {
    // The lock wait is bounded well inside the hook's own timeout: a hook that timed out while the wait
    // went on would take the lock afterwards and start the swarm after afterAll ran (seen once).
    await acquireSuiteLock(12 * 60_000);
    this.locked = true;
    this.iptablesBefore = iptables();
    this.log(startEngine().trim());
    this.engine = true;
    ensureImages([...images]);
    const t0 = Date.now();
    this.swarmUp = true;
    this.log(swarmSh("up", ...roles.map((r) => r.join(","))).trim());
    this.log(`swarm of 3 managers up in ${Date.now() - t0} ms`);
    const t1 = Date.now();
    swarmSh("load", ...images);
    this.log(`images copied into 3 nodes in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  }

  /**
   * Removes the nodes and stops the engine (whatever `up` got to), and releases the lock. Returns the
   * host's `iptables -S` before and after; `before` is empty when `up` never got the lock (a run
   * that touched nothing).
   */
  down(): { before: string; after: string } {
    if (this.swarmUp) {
      try {
        this.log(swarmSh("down").trim());
      } catch (e) {
        this.log(`swarm down: ${(e as Error).message}`);
      }
    }
    if (this.engine && process.env.WEBSTACK_E2E_KEEP_ENGINE !== "1") this.log(stopEngine().trim());
    const after = iptables();
    if (this.iptablesBefore && after !== this.iptablesBefore) this.log(`HOST IPTABLES CHANGED:\n${after}`);
    if (this.locked) releaseSuiteLock();
    return { before: this.iptablesBefore, after };
  }
}
