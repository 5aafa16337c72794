/**
 * Per-container memory without the Docker socket. The container names are known to the engine only;
 * the cgroup directory Docker makes is named after the container's id. In a monitored stack each
 * container gets a cgroup parent that carries its key, so its cgroup sits at a path the model knows,
 * and the stats exporter reads usage and limit there from the host's cgroup tree (mounted read-only).
 *
 * cgroupfs: the parent is an absolute path, `/webstack/<stack>/<key>`, and the container's cgroup is
 * `<hierarchy>/webstack/<stack>/<key>/<id>` (a relative path would land under runc's own cgroup:
 * measured on the e2e engine). systemd: the parent must be a slice, `webstack-<stack>-<key>.slice`, and
 * systemd nests a slice in the one named by its name up to its last '-': `webstack.slice/
 * webstack-<stack>.slice/.../webstack-<stack>-<key>.slice/docker-<id>.scope`.
 */
import { PropsError } from "../errors";
import type { MonitoringModel } from "../topology";

export type CgroupDriver = MonitoringModel["settings"]["cgroupDriver"];

/** What `--cgroup-parent` gets for the container `key` of the stack `prefix`. */
export function cgroupParentOf(driver: CgroupDriver, prefix: string, key: string): string {
  return driver === "cgroupfs" ? `/webstack/${prefix}/${key}` : `webstack-${prefix}-${key}.slice`;
}

/**
 * The parent's directory relative to the root of a cgroup hierarchy (v2: /sys/fs/cgroup; v1: its
 * memory controller's mount). The container's own cgroup is the one directory below it.
 */
export function cgroupDirOf(driver: CgroupDriver, prefix: string, key: string): string {
  if (driver === "cgroupfs") return `webstack/${prefix}/${key}`;
  const words = `webstack-${prefix}-${key}`.split("-");
  return words.map((_, i) => `${words.slice(0, i + 1).join("-")}.slice`).join("/");
}

/**
 * systemd (and runc's slice expansion) refuse a slice name with an empty word between two '-'; the
 * prefix and keys come from construct ids, so a doubled or trailing '-' is refused at synth, here.
 */
export function checkCgroupNames(m: MonitoringModel, prefix: string, keys: readonly string[]): void {
  if (m.settings.cgroupDriver !== "systemd") return;
  const bad = keys.filter((k) => `webstack-${prefix}-${k}`.split("-").some((w) => !/^[A-Za-z0-9_.:]+$/.test(w)));
  if (bad.length > 0) {
    throw new PropsError(m.path, [
      `cgroupDriver: 'systemd' needs every container's slice name to be words of A-Z a-z 0-9 _ . : joined by single '-'; ${bad.map((k) => `webstack-${prefix}-${k}.slice`).join(", ")} is not (rename the stack or component, or use 'cgroupfs')`,
    ]);
  }
}
