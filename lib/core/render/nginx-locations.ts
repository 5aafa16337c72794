/**
 * nginx locations: how a location matches, its caching and headers, the headers nginx itself sets or
 * hides (which a location may not name), nginx times, and the `location` line. Read by the renderer
 * and by the props schema of a web tier's locations.
 */

/** How a location matches: a URL prefix, one exact URL, or a PCRE regex (case-sensitive). */
export type NginxMatch = "prefix" | "exact" | "regex";

/** Cache-Control of a location's responses. */
export interface NginxCache {
  /** `max-age`, an nginx time: "1y", "30d", "1h", "0". */
  readonly maxAge: string;
  /** Add `immutable`: the file at this URL never changes (hashed names). */
  readonly immutable?: boolean;
  /** Add `must-revalidate`: once stale, a cache must ask again before reusing it. */
  readonly mustRevalidate?: boolean;
}

/**
 * Caching and headers of one location. `serves: "static"` refines the static location (the path
 * `staticUrlPath` itself, or a location nested in it: a prefix below it, or a regex tried on static
 * URLs only); `serves: "app"` is a location passed to the app (the path "/" is the default location).
 */
export interface NginxLocation {
  readonly path: string;
  readonly match: NginxMatch;
  readonly serves: "static" | "app";
  readonly cache?: NginxCache;
  /** Response headers, name -> value; each replaces the app's header of that name. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The request id nginx returns on every response. */
export const REQUEST_ID_HEADER = "X-Request-ID";
/** Identity headers of the app: logged, never shown to clients. */
export const HIDDEN_HEADERS = ["X-Session-ID", "X-User-ID"];

/**
 * Response headers the renderer sets or hides itself, and what to use instead; a location's
 * `headers` may not name them (compared without case).
 */
export const NGINX_RENDERED_HEADERS: Readonly<Record<string, string>> = {
  [REQUEST_ID_HEADER]: "the request id, set on every response",
  "Cache-Control": "set from the location's cache",
  Expires: "set from the location's cache",
  ...Object.fromEntries(HIDDEN_HEADERS.map((h) => [h, "the app's identity header, logged and hidden from clients"])),
};

const TIME_UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 };
/** nginx time ("1y", "30d", "45") as seconds; nginx's own units (M = 30 days, y = 365 days). */
export const NGINX_TIME = /^([0-9]+)(s|m|h|d|w|M|y)?$/;
export function nginxTimeSeconds(t: string): number {
  const m = NGINX_TIME.exec(t);
  if (!m) throw new Error(`not an nginx time: ${t}`);
  return Number(m[1]) * TIME_UNIT_SECONDS[m[2] ?? "s"];
}

export function cacheControlValue(c: NginxCache): string {
  return [`max-age=${nginxTimeSeconds(c.maxAge)}`, ...(c.immutable ? ["immutable"] : []), ...(c.mustRevalidate ? ["must-revalidate"] : [])].join(", ");
}

/** A double-quoted nginx string: nginx un-escapes \\ and \", so every character round-trips. */
export const nginxString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** The `location` line of a match and path. */
export function locationLine(match: NginxMatch, path: string): string {
  if (match === "exact") return `location = ${path} {`;
  // Quoted: a regex may hold "{" (quantifiers) or ";", which end a bare nginx word.
  if (match === "regex") return `location ~ ${nginxString(path)} {`;
  return `location ${path} {`;
}
