/**
 * The daemons' own answers, read as text: `psql` rows of pg_stat_activity, Redis `CLIENT LIST`,
 * `rabbitmqctl list_connections peer_host`, HAProxy's stats CSV (an HTTP response, maybe chunked)
 * and `docker stats`' memory column. Pure, so the command's I/O stays a list of `docker exec` calls.
 */

/** Client connections by application_name: open, and running a query now. */
export interface PgActivity {
  readonly open: Readonly<Record<string, number>>;
  readonly active: Readonly<Record<string, number>>;
}

/** `application_name<TAB>open<TAB>active` rows (psql -AtF '\t'); an empty name stays "". */
export function parsePgActivity(text: string): PgActivity {
  const open: Record<string, number> = {};
  const active: Record<string, number> = {};
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const m = /^(.*)\t(\d+)\t(\d+)$/.exec(line);
    if (!m) throw new Error(`pg_stat_activity: unexpected row '${line}'`);
    open[m[1]] = (open[m[1]] ?? 0) + Number(m[2]);
    active[m[1]] = (active[m[1]] ?? 0) + Number(m[3]);
  }
  return { open, active };
}

/** Redis `CLIENT LIST`: clients by their address, without the connection that asked. */
export function parseRedisClients(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n").filter((l) => l.includes("addr="))) {
    const fields = Object.fromEntries(line.trim().split(" ").map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]));
    // Our own redis-cli: `cmd=client|list` (Redis 7) or `cmd=client` (6).
    if (/^client(\|list)?$/.test(fields.cmd ?? "")) continue;
    const host = hostOf(fields.addr);
    out[host] = (out[host] ?? 0) + 1;
  }
  return out;
}

/** `rabbitmqctl -s list_connections peer_host`: one address a line. */
export function parseRabbitConnections(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    if (!/^[0-9a-fA-F.:]+$/.test(line)) throw new Error(`rabbitmqctl list_connections: unexpected line '${line}'`);
    const host = line.replace(/^::ffff:/, "");
    out[host] = (out[host] ?? 0) + 1;
  }
  return out;
}

/** "172.31.2.5:40112" or "[::1]:40112" -> the host part. */
function hostOf(addr: string | undefined): string {
  if (!addr) return "?";
  const m = /^\[?(.*?)\]?:\d+$/.exec(addr);
  return (m ? m[1] : addr).replace(/^::ffff:/, "");
}

/** The body of an HTTP response, de-chunked when it came chunked. */
export function httpBody(raw: string): { status: number; body: string } {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) throw new Error(`not an HTTP response: '${raw.slice(0, 80)}'`);
  const head = raw.slice(0, split);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
  let rest = raw.slice(split + 4);
  if (!/^transfer-encoding:\s*chunked/im.test(head)) return { status, body: rest };
  let body = "";
  for (;;) {
    const eol = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, eol), 16);
    if (eol < 0 || Number.isNaN(size)) throw new Error("HTTP response: bad chunk");
    if (size === 0) return { status, body };
    body += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

export interface HaproxyServerStat {
  readonly backend: string;
  readonly server: string;
  /** Current sessions, the most since HAProxy started, the configured limit (maxconn), and the queue. */
  readonly scur: number;
  readonly smax: number;
  readonly slim: number | null;
  readonly qcur: number;
  readonly status: string;
}

/** HAProxy's `/stats;csv` response: one row per server (frontends and backend totals left out). */
export function parseHaproxyStats(raw: string): HaproxyServerStat[] {
  const { status, body } = httpBody(raw);
  if (status !== 200) throw new Error(`HAProxy stats page answered ${status}`);
  const lines = body.split("\n").map((l) => l.replace(/\r$/, ""));
  const header = lines.find((l) => l.startsWith("# "));
  if (!header) throw new Error("HAProxy stats: no CSV header");
  const cols = header.slice(2).split(",");
  const at = (row: string[], name: string) => row[cols.indexOf(name)] ?? "";
  return lines
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(","))
    .filter((row) => !["FRONTEND", "BACKEND"].includes(at(row, "svname")))
    .map((row) => ({
      backend: at(row, "pxname"),
      server: at(row, "svname"),
      scur: Number(at(row, "scur") || 0),
      smax: Number(at(row, "smax") || 0),
      slim: at(row, "slim") === "" ? null : Number(at(row, "slim")),
      qcur: Number(at(row, "qcur") || 0),
      status: at(row, "status"),
    }));
}

const UNITS: Record<string, number> = { B: 1, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** "44.85MiB" -> MiB. */
export function parseSizeMiB(text: string): number {
  const m = /^([\d.]+)\s*([KMGT]i?B|B)$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: '${text}'`);
  return (Number(m[1]) * UNITS[m[2].toUpperCase()]) / 1024 ** 2;
}

/** `docker stats --no-stream --format '{{.Name}}\t{{.MemUsage}}'`: memory in use and the limit the engine enforces, by container name. */
export function parseDockerStats(text: string): Record<string, { usedMiB: number; limitMiB: number }> {
  const out: Record<string, { usedMiB: number; limitMiB: number }> = {};
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const [name, usage] = line.split("\t");
    const [used, limit] = (usage ?? "").split("/");
    if (limit === undefined) throw new Error(`docker stats: unexpected line '${line}'`);
    out[name.trim()] = { usedMiB: parseSizeMiB(used), limitMiB: parseSizeMiB(limit) };
  }
  return out;
}
