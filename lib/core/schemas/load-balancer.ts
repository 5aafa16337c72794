/** LoadBalancer props (routes and targets are typed in the construct layer). */
import { z } from "zod";
import { positiveInt, memoryMiB, dockerImage, urlPath, identifier } from "./common";

export const healthCheckSchema = z
  .object({
    /** Path HAProxy probes with `HEAD`. @default "/ping" */
    path: urlPath.default("/ping"),
    /** Milliseconds between checks. @default 5000 */
    interMs: positiveInt.default(5000),
    /** Milliseconds between checks while a server is changing state (after a first failure). @default 1000 */
    fastInterMs: positiveInt.default(1000),
    /** Failed checks before a server is marked down. @default 2 */
    fall: positiveInt.default(2),
    /** Passed checks before a server is marked up again. @default 1 */
    rise: positiveInt.default(1),
  })
  .strict();

export const loadBalancerSchema = z
  .object({
    /** Balancing algorithm; `source` hashes the client address (sticky sessions). @default "leastconn" */
    balance: z.enum(["leastconn", "roundrobin", "source"]).default("leastconn"),
    /** Host port published for HTTP, on `bindAddress`. @default 80 */
    httpPort: z.number().int().min(1).max(65535).default(80),
    /** Host address the published ports bind to. @default "0.0.0.0" */
    bindAddress: z.ipv4().default("0.0.0.0"),
    /** HTTPS frontend. @default none (HTTP only) */
    https: z
      .object({
        /** Host port published for HTTPS. @default 443 */
        port: z.number().int().min(1).max(65535).default(443),
        /** PEM bundle (certificate, chain, key) read at synth time. Exactly one of this and `certificateVariable`. */
        certificateFile: z.string().optional(),
        /** Name of a sensitive Terraform variable holding the PEM bundle. */
        certificateVariable: identifier.optional(),
        /** Redirect plain HTTP to HTTPS with a 301. @default true */
        redirectHttp: z.boolean().default(true),
      })
      .strict()
      .refine((h) => (h.certificateFile === undefined) !== (h.certificateVariable === undefined), {
        message: "set exactly one of certificateFile and certificateVariable",
      })
      .optional(),
    /**
     * Health check of every server. After a first failure HAProxy checks every `fastinter` ms, so a
     * node that stops is marked down within fall x inter. @default HEAD /ping, inter 5000, fall 2, rise 1
     */
    healthCheck: healthCheckSchema.default({ path: "/ping", interMs: 5000, fastInterMs: 1000, fall: 2, rise: 1 }),
    /** Global `maxconn` of the HAProxy process. @default 4000 */
    maxconn: positiveInt.default(4000),
    /** `nofile` ulimit of the HAProxy container. @default 2 x maxconn + 1024 */
    nofileLimit: positiveInt.optional(),
    /** Requests a server may queue in HAProxy beyond its maxconn before others are tried. @default 64 */
    maxqueue: positiveInt.default(64),
    /** Timeouts in milliseconds. */
    timeouts: z
      .object({
        /** Also bounds each health check's connect: a server that vanished is seen within it. @default 2000 */
        connect: positiveInt.default(2000),
        /** Read timeout of a health check once connected. @default 2000 */
        check: positiveInt.default(2000),
        /** @default 60000 */ client: positiveInt.default(60000),
        /** HAProxy `timeout server`, for every backend. @default per backend, its web tier's nginx read timeout + 10 s */ server: positiveInt.optional(),
        /** How long a request may wait for a free server slot. @default 30000 */ queue: positiveInt.default(30000),
        /** @default 10000 */ httpRequest: positiveInt.default(10000),
      })
      .strict()
      .default({ connect: 2000, check: 2000, client: 60000, queue: 30000, httpRequest: 10000 }),
    /** Internal port of the password-protected stats page; never published. @default 8404 */
    statsPort: z.number().int().min(1024).max(65535).default(8404),
    /** User name of the stats page; its password is a sensitive variable. @default "admin" */
    statsUser: z.string().regex(/^[a-z][a-z0-9_-]*$/).default("admin"),
    /** HTML body of the 503 page served when no server is up. @default a short maintenance notice */
    maintenanceHtml: z.string().max(8000).optional(),
    /** @default "haproxy:2.6" */
    image: dockerImage.default("haproxy:2.6"),
    /** @default 256 */
    memoryMiB: memoryMiB.default(256),
  })
  .strict();
