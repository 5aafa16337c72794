/**
 * The cgroup parents a monitored stack asks for (`cgroup_parent = "/webstack/<stack>/<container>"`
 * with the cgroupfs driver): runc makes the directories and removes only the container's own cgroup
 * below them (measured on the e2e engine), so destroy removes the empty parents it left in every
 * hierarchy of the host (each v1 controller, and the v2 tree), bottom-up, and nothing else: a
 * directory that still holds a cgroup is left.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readTfJson } from "./tf-json";

const CGROUP_FS = "/sys/fs/cgroup";

export function removeCgroupParents(tfJsonPath: string): string[] {
  if (!fs.existsSync(tfJsonPath)) return [];
  const parents = Object.values(readTfJson(tfJsonPath).resource?.docker_container ?? {})
    .map((r) => r.cgroup_parent)
    .filter((p): p is string => typeof p === "string" && p.startsWith("/"));
  if (parents.length === 0) return [];
  const hierarchies = [CGROUP_FS, ...fs.readdirSync(CGROUP_FS).map((d) => path.join(CGROUP_FS, d)).filter((d) => fs.statSync(d).isDirectory())];
  const errors: string[] = [];
  for (const h of hierarchies) {
    for (const p of parents) {
      // The container's parent, then each ancestor up to the hierarchy's root, while empty.
      for (let rel = p; rel !== "/" && rel !== "."; rel = path.posix.dirname(rel)) {
        const dir = path.join(h, rel);
        try {
          fs.rmdirSync(dir);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "ENOENT") continue;
          if (code !== "EBUSY" && code !== "ENOTEMPTY") errors.push(`rmdir ${dir}: ${(e as Error).message}`);
          break;
        }
      }
    }
  }
  return errors;
}
