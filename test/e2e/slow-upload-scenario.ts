/**
 * The e2e scenario of issue #13: on an upload route, a client pausing longer than uWSGI's default
 * socket-timeout (4 s) but within the route's clientPauseSeconds still succeeds; one pausing past
 * the limit is cut (nginx's client_body_timeout: a bare close, or HAProxy's 502 in front of it).
 * The app behind `path` must read the whole body and answer 200 (the example app's POST /upload
 * returns {"bytes", "sha256"}; any app answering 2xx works, the sha256 is checked when present).
 * Both clients run side by side: the scenario takes pauseLimit + 5 s plus a few seconds.
 */
import { slowUploadFrom, type SlowUploadResult } from "../slow-upload";

export interface SlowUploadScenario {
  within: SlowUploadResult;
  past: SlowUploadResult;
}

/**
 * e.g. `await slowUploadScenario("http://127.0.0.1:8080", "/upload/stream", 30)` for a route
 * `{ path: "/upload/stream", maxBodySize: "1g", clientPauseSeconds: 30 }`. Throws with both results
 * when either half fails. `hostHeader`: the site's host, for an app that checks Host (ALLOWED_HOSTS).
 */
export async function slowUploadScenario(baseUrl: string, path: string, pauseLimitSeconds: number, hostHeader?: string): Promise<SlowUploadScenario> {
  if (pauseLimitSeconds < 7) throw new Error("the route's pause limit must exceed 6 s, past uWSGI's default 4 s socket-timeout with a margin");
  const withinPause = Math.max(6, pauseLimitSeconds - 2);
  const [within, past] = await Promise.all([
    slowUploadFrom(baseUrl, path, withinPause, { hostHeader }),
    slowUploadFrom(baseUrl, path, pauseLimitSeconds + 5, { hostHeader }),
  ]);
  const problems: string[] = [];
  if (within.status === null || within.status < 200 || within.status > 299 || within.cutAfter !== null) {
    problems.push(`a ${withinPause} s pause (within ${pauseLimitSeconds} s) must succeed`);
  } else if (/"sha256"/.test(within.body) && JSON.parse(within.body).sha256 !== within.sentSha256) {
    problems.push("the app read a different body than was sent");
  }
  if (past.status === 200 || past.cutAfter === null || past.cutAfter < pauseLimitSeconds - 1 || past.cutAfter > pauseLimitSeconds + 3) {
    problems.push(`a ${pauseLimitSeconds + 5} s pause must be cut near ${pauseLimitSeconds} s`);
  }
  if (problems.length > 0) throw new Error(`${problems.join("; ")}\nwithin: ${JSON.stringify(within)}\npast: ${JSON.stringify(past)}`);
  return { within, past };
}
