/**
 * Minimal Docker Engine API client over the private engine's unix socket (node:http, no dependency),
 * plus the in-memory tar writer used for uploads and the log stream demultiplexer. Test-only.
 */
import * as http from "node:http";

export const SOCKET = process.env.WEBSTACK_E2E_SOCKET ?? "/run/webstack-e2e/docker.sock";
let current = SOCKET;
/** Points the client at another engine (a swarm node) until called again; SOCKET is the default. */
export function useSocket(socket: string = SOCKET): void {
  current = socket;
}
/** dockerd 20.10 (Debian bookworm's docker.io) speaks 1.41. */
export const API_VERSION = "v1.41";

export class DockerApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly daemonMessage: string,
  ) {
    super(`${method} ${path} -> ${status}: ${daemonMessage}`);
  }
}

export interface ApiResponse {
  status: number;
  body: Buffer;
}

export function request(
  method: string,
  path: string,
  body?: unknown,
  opts: { raw?: Buffer; contentType?: string; timeoutMs?: number } = {},
): Promise<ApiResponse> {
  const payload = opts.raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  const headers: Record<string, string | number> = {};
  if (payload) {
    headers["Content-Type"] = opts.contentType ?? (opts.raw ? "application/x-tar" : "application/json");
    headers["Content-Length"] = payload.length;
  }
  return new Promise((resolve, reject) => {
    // agent: false: no keep-alive pool. Node 20's global agent keeps idle sockets; after the engine is
    // stopped and restarted between test files (with no event-loop turn in between: spawnSync), the
    // first request reused a socket to the dead daemon and failed with "write EPIPE".
    const req = http.request({ socketPath: current, method, path: `/${API_VERSION}${path}`, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Like request, but throws DockerApiError (with the daemon's own message) unless 2xx (or an allowed status). */
export async function call<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  opts: { raw?: Buffer; allow?: number[]; timeoutMs?: number } = {},
): Promise<T> {
  const res = await request(method, path, body, opts);
  if ((res.status < 200 || res.status >= 300) && !(opts.allow ?? []).includes(res.status)) {
    let msg = res.body.toString("utf8");
    try {
      msg = (JSON.parse(msg) as { message?: string }).message ?? msg;
    } catch {
      /* not JSON */
    }
    throw new DockerApiError(method, path, res.status, msg.trim());
  }
  const text = res.body.toString("utf8");
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return text as unknown as T;
  }
}

/** Demultiplexes a non-TTY log/attach stream (8-byte frame headers) into text. */
export function demux(buf: Buffer): { stdout: string; stderr: string; combined: string } {
  let stdout = "";
  let stderr = "";
  let combined = "";
  let i = 0;
  while (i + 8 <= buf.length) {
    const stream = buf[i];
    const len = buf.readUInt32BE(i + 4);
    const chunk = buf.subarray(i + 8, i + 8 + len).toString("utf8");
    if (stream === 2) stderr += chunk;
    else stdout += chunk;
    combined += chunk;
    i += 8 + len;
  }
  return { stdout, stderr, combined };
}

export interface TarEntry {
  /** Absolute or relative path; stored relative to "/". */
  path: string;
  content: Buffer | string;
  mode: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

/** A ustar archive of regular files owned by root (uid/gid 0), as the provider's upload builds. */
export function tar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content, "utf8");
    let name = e.path.replace(/^\/+/, "");
    let prefix = "";
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf("/", 155);
      if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`upload path too long for ustar: ${e.path}`);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    const h = Buffer.alloc(512, 0);
    h.write(name, 0, 100, "utf8");
    h.write(octal(e.mode & 0o7777, 8), 100, 8, "ascii");
    h.write(octal(0, 8), 108, 8, "ascii");
    h.write(octal(0, 8), 116, 8, "ascii");
    h.write(octal(data.length, 12), 124, 12, "ascii");
    h.write(octal(Math.floor(Date.now() / 1000), 12), 136, 12, "ascii");
    h.write("        ", 148, 8, "ascii");
    h.write("0", 156, 1, "ascii");
    h.write("ustar\0", 257, 6, "ascii");
    h.write("00", 263, 2, "ascii");
    h.write("root", 265, 32, "ascii");
    h.write("root", 297, 32, "ascii");
    h.write(prefix, 345, 155, "utf8");
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7) + " ", 148, 8, "ascii");
    blocks.push(h, data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad, 0));
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}
