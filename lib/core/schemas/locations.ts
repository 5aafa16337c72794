/**
 * nginx locations of a web tier: how an upload route or a location matches (prefix, exact, regex),
 * and per-location caching and headers. Checked here as far as is cheap (a path is a path, a regex
 * holds no line break, a header cannot be one the renderer sets, no two locations collide); a regex
 * is compiled by nginx itself (`nginx -t` in the daemon suite).
 */
import { z } from "zod";
import { NGINX_RENDERED_HEADERS, NGINX_TIME } from "../render/nginx-locations";
import { bodySize, positiveInt } from "./common";

const URL_PATH = /^\/[A-Za-z0-9._~\/-]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** How a location matches a request's URL path. @default "prefix" */
export const locationMatch = z.enum(["prefix", "exact", "regex"]).default("prefix");

/** A path as its match reads it: a URL path (prefix, exact) or a PCRE regex on one line. */
function refinePath(l: { path: string; match: "prefix" | "exact" | "regex" }, ctx: z.RefinementCtx): void {
  if (l.match !== "regex" && !URL_PATH.test(l.path)) {
    ctx.addIssue({ code: "custom", path: ["path"], message: `must be a URL path starting with '/' (for a pattern set match: "regex")` });
  }
  if (l.match === "regex" && (l.path.length === 0 || CONTROL.test(l.path))) {
    ctx.addIssue({ code: "custom", path: ["path"], message: "must be a regex on one line, without control characters" });
  }
}

export const uploadRouteSchema = z
  .object({
    /** URL path prefix, exact path, or PCRE regex (nginx `location ~`), as `match` says. */
    path: z.string(),
    /**
     * `prefix`: every URL under the path; `exact`: that URL alone; `regex`: URLs the PCRE regex
     * matches, e.g. `^/api/records/[^/]+/draft/files/[^/]+/content$`. Only a prefix route covers a
     * load balancer route's prefix in WS-BODY-SIZE. @default "prefix"
     */
    match: locationMatch,
    maxBodySize: bodySize,
    /**
     * Longest pause, in seconds, of a client in the middle of its body (a phone between
     * cells, a stalled proxy): every layer waits this long (nginx `client_body_timeout` of the
     * location; uWSGI `socket-timeout`, HAProxy `timeout client` and `timeout server` longer),
     * and nginx cuts a client that pauses longer. @default 30
     */
    clientPauseSeconds: positiveInt.max(3600).default(30),
  })
  .strict()
  .superRefine(refinePath);

const headerName = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const renderedHeader = new Map(Object.entries(NGINX_RENDERED_HEADERS).map(([name, why]) => [name.toLowerCase(), [name, why] as const]));

export const locationSchema = z
  .object({
    /** URL path prefix, exact path, or PCRE regex, as `match` says. */
    path: z.string(),
    match: locationMatch,
    /**
     * `static`: a part of the static files. Its path is `staticUrlPath` itself (caching of all static
     * files), a prefix or exact path below it, or a regex nginx tries on static URLs only. `app`: passed
     * to the app; the path "/" is the default location. @default "app"
     */
    serves: z.enum(["static", "app"]).default("app"),
    /**
     * Cache-Control of the responses: `max-age` from `maxAge` (an nginx time: "1y", "30d", "1h", "0"),
     * plus `immutable` and `must-revalidate` when set. Replaces the app's own Cache-Control.
     * @default static files: `expires 1h`; app responses: the app's own
     */
    cache: z
      .object({
        maxAge: z.string().regex(NGINX_TIME, "must be an nginx time like '1y', '30d', '1h' or '0'"),
        /** The file at this URL never changes (hashed names): browsers skip revalidation. @default false */
        immutable: z.boolean().default(false),
        /** Once stale, a cache must ask again before reusing it. @default false */
        mustRevalidate: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** Response headers, name -> value, e.g. `{ "X-Frame-Options": "DENY" }`; each replaces the app's header of that name. @default {} */
    headers: z
      .record(z.string(), z.string())
      .superRefine((h, ctx) => {
        for (const [name, value] of Object.entries(h)) {
          if (!headerName.test(name)) ctx.addIssue({ code: "custom", path: [], message: `${JSON.stringify(name)} is not a header name (letters, digits and '-')` });
          const own = renderedHeader.get(name.toLowerCase());
          if (own) ctx.addIssue({ code: "custom", path: [name], message: `${own[0]} is ${own[1]} by the library${own[0] === "Cache-Control" || own[0] === "Expires" ? "; set cache instead" : ""}` });
          if (!/^[\x20-\x7e]*$/.test(value) || /["\\$]/.test(value)) {
            ctx.addIssue({ code: "custom", path: [name], message: 'must be printable ASCII on one line, without ", \\ or $ (nginx reads $ as a variable)' });
          }
        }
      })
      .default({}),
  })
  .strict()
  .superRefine(refinePath)
  .refine((l) => l.cache !== undefined || Object.keys(l.headers).length > 0, { message: "sets neither cache nor headers: remove it, or say what it changes" });

type Located = { readonly path: string; readonly match: "prefix" | "exact" | "regex" };
const key = (l: Located) => `${l.match} ${l.match === "prefix" && l.path !== "/" ? l.path.replace(/\/$/, "") : l.path}`;

/**
 * Where the tier's locations go: static ones below staticUrlPath, app ones outside it, and no two
 * the same (nginx refuses a duplicate location; "/" is the default location, a streamed route there
 * would collide with it).
 */
export function refineLocations(
  s: { staticUrlPath: string; uploadRoutes: readonly Located[]; locations: readonly (Located & { serves: "static" | "app" })[] },
  ctx: z.RefinementCtx,
): void {
  const staticPrefix = s.staticUrlPath.replace(/\/$/, "");
  const under = (p: string) => p === staticPrefix || p.startsWith(`${staticPrefix}/`);
  s.locations.forEach((l, i) => {
    if (l.match === "regex") return;
    if (l.serves === "static" && !under(l.path)) {
      ctx.addIssue({ code: "custom", path: ["locations", i, "path"], message: `serves static files, so it must be staticUrlPath ${s.staticUrlPath} or below it (or a regex)` });
    }
    if (l.serves === "app" && under(l.path)) {
      ctx.addIssue({ code: "custom", path: ["locations", i, "path"], message: `is under staticUrlPath ${s.staticUrlPath}: set serves: "static"` });
    }
  });
  const seen = new Map<string, string>([["prefix /", "the default location /"]]);
  const claim = (l: Located, field: "uploadRoutes" | "locations", i: number) => {
    const k = key(l);
    const first = seen.get(k);
    // A location for "/" sets the default location's caching and headers; a streamed route cannot be it.
    if (first && !(field === "locations" && k === "prefix /" && first === "the default location /")) {
      ctx.addIssue({ code: "custom", path: [field, i, "path"], message: `${l.match} ${l.path} is also ${first}: nginx refuses two locations with one path` });
    }
    seen.set(k, `${field}.${i}`);
  };
  s.uploadRoutes.forEach((r, i) => claim(r, "uploadRoutes", i));
  s.locations.forEach((l, i) => claim(l, "locations", i));
}

