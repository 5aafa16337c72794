/**
 * The slow upload client (test/slow_upload.py) for the daemon and e2e suites: a POST whose body
 * stops halfway for `pauseSeconds`, on a raw socket, so every layer's client-body timeout is met.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const SLOW_UPLOAD_PY = path.join(__dirname, "slow_upload.py");

export interface SlowUploadOptions {
  host: string;
  port: number;
  path: string;
  /** Body size; the pause comes after the first half. @default 262144 */
  bytes?: number;
  pauseSeconds: number;
  /** Host header. @default host */
  hostHeader?: string;
  /** Seconds to wait for the response once the body is sent. @default 30 */
  responseTimeoutSeconds?: number;
}

export interface SlowUploadResult {
  /** HTTP status of the response, null when the connection closed without one. */
  status: number | null;
  /** Seconds into the pause at which the server answered or closed; null when it waited the pause out. */
  cutAfter: number | null;
  error: string | null;
  elapsed: number;
  /** sha256 of the body sent, to compare with what the app says it read. */
  sentSha256: string;
  body: string;
}

/** argv running the client with python3; run it where 127.0.0.1 is the server's loopback. */
export function slowUploadArgv(o: SlowUploadOptions): string[] {
  return ["python3", "-c", fs.readFileSync(SLOW_UPLOAD_PY, "utf8"), o.host, String(o.port), o.path, String(o.bytes ?? 262144),
    String(o.pauseSeconds), o.hostHeader ?? "", String(o.responseTimeoutSeconds ?? 30)];
}

export function parseSlowUpload(stdout: string, stderr = ""): SlowUploadResult {
  const line = stdout.trim().split("\n").pop() ?? "";
  let r: { status: number | null; cut_after: number | null; error: string | null; elapsed: number; sent_sha256: string; body: string };
  try {
    r = JSON.parse(line);
  } catch {
    throw new Error(`slow upload client gave no result:\n${stdout}\n${stderr}`);
  }
  return { status: r.status, cutAfter: r.cut_after, error: r.error, elapsed: r.elapsed, sentSha256: r.sent_sha256, body: r.body };
}

/** The time the client can take at most, for the caller's own timeout. */
export function slowUploadBoundMs(o: SlowUploadOptions): number {
  return (5 + o.pauseSeconds + (o.responseTimeoutSeconds ?? 30) + 10) * 1000;
}

/**
 * From this machine to a published port (the e2e suite): e.g.
 * `await slowUploadFrom("http://127.0.0.1:8080", "/upload", 6)`; expect status 200 when 6 s is within
 * the route's clientPauseSeconds, and a cut (`cutAfter` near the limit, no 200) past it.
 */
export function slowUploadFrom(baseUrl: string, urlPath: string, pauseSeconds: number, extra: Partial<SlowUploadOptions> = {}): Promise<SlowUploadResult> {
  const u = new URL(baseUrl);
  const o: SlowUploadOptions = { host: u.hostname, port: Number(u.port || 80), path: urlPath, pauseSeconds, ...extra };
  return new Promise((resolve, reject) => {
    execFile(slowUploadArgv(o)[0], slowUploadArgv(o).slice(1), { timeout: slowUploadBoundMs(o) }, (err, stdout, stderr) => {
      if (err && !stdout) reject(new Error(`slow upload client failed: ${err.message}\n${stderr}`));
      else {
        try {
          resolve(parseSlowUpload(stdout, stderr));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}
