/**
 * What the swarm e2e reads off the nodes besides the API's state: containers of a service, HAProxy's
 * and nginx's log lines, and the machine's stall time (the machine is shared with other work).
 */
import * as fs from "node:fs";
import { call, demux, request, useSocket } from "./docker-api";

const RUN = process.env.WEBSTACK_SWARM_RUN ?? "/run/webstack-swarm";
export const nodeSocket = (n: number) => `${RUN}/n${n}/docker.sock`;

/** Containers of a swarm service on the engine in use (`all`: stopped ones too). */
export async function containersOf(service: string, all = false): Promise<Array<{ Id: string }>> {
  const filter = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`] }));
  return call<Array<{ Id: string }>>("GET", `/containers/json?filters=${filter}${all ? "&all=1" : ""}`);
}

/**
 * The machine's stall time each second (Linux PSI, /proc/pressure): ms of that second in which some
 * task waited for a CPU, and for IO. Other work on the machine (it is shared) shows here.
 */
export function pressureSampler() {
  const read = (r: string) => Number(/some avg10=[\d.]+ avg60=[\d.]+ avg300=[\d.]+ total=(\d+)/.exec(fs.readFileSync(`/proc/pressure/${r}`, "utf8"))![1]);
  const samples: Array<{ at: number; cpuMs: number; ioMs: number }> = [];
  let last = { cpu: read("cpu"), io: read("io") };
  const timer = setInterval(() => {
    const now = { cpu: read("cpu"), io: read("io") };
    samples.push({ at: Date.now(), cpuMs: Math.round((now.cpu - last.cpu) / 1000), ioMs: Math.round((now.io - last.io) / 1000) });
    last = now;
  }, 1000);
  return { stop: () => (clearInterval(timer), samples) };
}

/** The nginx access-log lines (all nodes, stopped replicas too) of these request ids. */
export async function nginxLinesOf(requestIds: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of [1, 2, 3]) {
    useSocket(nodeSocket(n));
    for (const c of await containersOf("swarm-shop-web-nginx", true)) {
      const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1`);
      out.push(...demux(res.body).combined.split("\n").filter((l) => requestIds.some((id) => l.includes(id))).map((l) => `n${n}: ${l}`));
    }
  }
  useSocket(nodeSocket(1));
  return out;
}

/**
 * HAProxy's log lines (the stack's log-format) since `sinceSec` of the service's containers on the
 * engine in use, keeping those that were not a plain fast 200: another status, a termination state
 * other than `--`, a retry or redispatch, a total time over 1 s; and HAProxy's own messages.
 */
export async function unusualHaproxyLines(service: string, sinceSec: number): Promise<string[]> {
  const lines: string[] = [];
  for (const c of await containersOf(service)) {
    const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1&timestamps=1&since=${sinceSec}`);
    lines.push(...demux(res.body).combined.split("\n"));
  }
  // ... %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc ...
  const re = / (-?\d+)\/(-?\d+)\/(-?\d+)\/(-?\d+)\/(\+?-?\d+) (-?\d+) \+?\d+ (\S{2,4}) \d+\/\d+\/\d+\/\d+\/\+?(\d+) /;
  return lines.filter((l) => {
    const m = re.exec(l);
    if (!m) return l.trim() !== "" && !l.includes(" 200 ");
    return m[6] !== "200" || !m[7].startsWith("--") || Number(m[8]) > 0 || Number(m[5].replace("+", "")) > 1000;
  });
}

/**
 * HAProxy log lines (as unusualHaproxyLines keeps them) of requests that failed at the load balancer
 * or needed it to act: another status than 2xx, a termination state other than `----`, or a retry.
 */
export function proxiedFailures(lines: readonly string[]): string[] {
  const re = / (-?\d+)\/(-?\d+)\/(-?\d+)\/(-?\d+)\/(\+?-?\d+) (-?\d+) \+?\d+ (\S{4}) \d+\/\d+\/\d+\/\d+\/(\+?\d+) /;
  return lines.filter((l) => {
    const m = re.exec(l);
    return m !== null && (!/^2\d\d$/.test(m[6]) || m[7] !== "----" || m[8] !== "0");
  });
}

/** uWSGI's lines (all nodes, stopped replicas too) about recycling workers (max-requests) since `sinceSec`. */
export async function uwsgiRecycles(service: string, sinceSec: number): Promise<string[]> {
  const out: string[] = [];
  for (const n of [1, 2, 3]) {
    useSocket(nodeSocket(n));
    for (const c of await containersOf(service, true)) {
      const res = await request("GET", `/containers/${c.Id}/logs?stdout=1&stderr=1&timestamps=1&since=${sinceSec}`);
      out.push(...demux(res.body).combined.split("\n").filter((l) => /Seeya|NO MERCY|Respawned|too much time|killed successfully|max requests/i.test(l)).map((l) => `n${n} ${c.Id.slice(0, 8)}: ${l}`));
    }
  }
  useSocket(nodeSocket(1));
  return out.sort((a, b) => a.slice(a.indexOf(": ") + 2).localeCompare(b.slice(b.indexOf(": ") + 2)));
}
