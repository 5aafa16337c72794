import { createHash } from "node:crypto";
import type { ContainerSpec } from "./model";

/**
 * Fingerprint of what a container must be recreated for: its files, health check, command and
 * environment names. The docker provider ignores some in-place edits (a changed health check
 * among them), so this goes on a label, and a changed label forces a new container.
 */
export function containerFingerprint(c: ContainerSpec): string {
  const h = createHash("sha256");
  const material = {
    files: [...c.files].sort((x, y) => x.path.localeCompare(y.path)).map((f) => [f.path, f.executable, f.content]),
    healthcheck: c.healthcheck,
    command: c.command,
    env: Object.keys(c.env).sort().map((k) => [k, c.env[k]]),
    sysctls: c.sysctls,
    ulimits: c.ulimits,
  };
  h.update(JSON.stringify(material));
  return h.digest("hex").slice(0, 16);
}
