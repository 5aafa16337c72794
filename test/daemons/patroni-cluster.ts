/** Sandboxes of a Patroni cluster for the daemon suite: members plugged into a switch's bridge, Patroni's API, SQL, a crash. */
import { execFileSync } from "node:child_process";
import { Sandbox, secretValue, type Container } from "./harness";

/** Starts a sandbox for a rendered container and plugs it into the switch's bridge at its address. */
export async function plug(sw: Sandbox, c: Container, n: number, setup: string, daemon: boolean, user?: string): Promise<Sandbox> {
  const box = new Sandbox(c.key, { files: c.files, setup });
  await box.start();
  execFileSync("ip", ["link", "add", `pm${n}`, "netns", String(box.nsPid), "type", "veth", "peer", "name", `ps${n}`, "netns", String(sw.nsPid)]);
  const up = await box.sh(`ip addr add ${c.address}/16 dev pm${n} && ip link set pm${n} up`);
  if (up.code !== 0) throw new Error(`${c.key}: ${up.stderr}`);
  const br = await sw.sh(`ip link set ps${n} master br0 && ip link set ps${n} up`);
  if (br.code !== 0) throw new Error(`switch: ${br.stderr}`);
  if (daemon) await startDaemon(box, c, user ?? c.user ?? "root");
  return box;
}

/** Runs the container's command in its sandbox, in the background, appending to the sandbox's log. */
export async function startDaemon(box: Sandbox, c: Container, user = c.user ?? "root"): Promise<void> {
  const env = Object.entries(c.env).map(([k, v]) => `${k}='${v}'`).join(" ");
  const r = await box.sh(`cd / && env ${env} ${c.command.join(" ")} >>/tmp/daemon.log 2>&1 &`, { user });
  if (r.code !== 0) throw new Error(`${c.key}: ${r.stderr}`);
}

export const daemonLog = async (box: Sandbox) => (await box.sh("tail -n 60 /tmp/daemon.log").catch(() => ({ stdout: "" }))).stdout;

/** HTTP status of a GET to a member's Patroni REST API, from the switch (the stack network). */
export async function api(sw: Sandbox, c: Container, path: string): Promise<number> {
  const r = await sw.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", `http://${c.address}:8008${path}`]);
  return Number(r.stdout.trim() || 0);
}

export async function sql(sw: Sandbox, conninfo: string, query: string, timeoutMs = 15_000) {
  return sw.exec(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query, conninfo], {
    user: "nobody",
    env: { PGPASSWORD: secretValue("db_password"), PGCONNECT_TIMEOUT: "3" },
    timeoutMs,
  });
}

/** Kills Patroni and the postmaster of a member by their process ids (inside its own PID namespace). */
export async function crash(box: Sandbox): Promise<string> {
  const r = await box.sh(
    "for p in /proc/[0-9]*; do if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '^/usr/bin/python3 /usr/bin/patroni '; then echo ${p#/proc/}; fi; done; " +
      "head -1 /var/lib/postgresql/data/pgdata/postmaster.pid",
  );
  const pids = r.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
  if (pids.length < 2) throw new Error(`crash: found pids ${JSON.stringify(pids)} (${r.stderr})`);
  await box.sh(`kill -9 ${pids.join(" ")}`);
  return pids.join(" ");
}
