/** LoadBalancer props (routes and targets are typed in the construct layer). */
import { z } from "zod";
import { positiveInt, memoryMiB, dockerImage, urlPath, identifier } from "./common";
import { BROKEN_TLS12_CIPHER, TLS12_CIPHER_NAME, TLS13_CIPHERSUITES, TLS_GROUPS, TLS_PROTOCOLS } from "../render/tls-profiles";

/** A DNS host name as clients send it in Host, e.g. "www.example.com". */
const hostName = z.string().regex(/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, "must be a host name like 'www.example.com'");

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
    /**
     * Host header of the check. An app that checks Host (Django's ALLOWED_HOSTS, Flask's
     * TRUSTED_HOSTS) answers 400 to any other, and every server would be marked down.
     * @default the load balancer's siteHost, else "localhost"
     */
    host: hostName.optional(),
  })
  .strict();

/** What one route may change of the load balancer's health check, for its backend alone. */
export const routeHealthCheckSchema = z
  .object({
    /** @default the load balancer's healthCheck.path */
    path: urlPath.optional(),
    /** @default the load balancer's healthCheck.host, else its siteHost, else "localhost" */
    host: hostName.optional(),
    /** @default the load balancer's healthCheck.interMs */
    interMs: positiveInt.optional(),
  })
  .strict();

const duplicates = (list: readonly string[]) => list.filter((x, i) => list.indexOf(x) !== i);

/** TLS settings of your own, for clients Mozilla's profiles do not fit; validated, never passed through unchecked. */
export const customTlsProfileSchema = z
  .object({
    /**
     * Protocol versions to accept: "TLSv1.2", "TLSv1.3". TLS 1.0 and 1.1 are refused: Mozilla's
     * current profiles dropped them and OpenSSL 3 allows them only at security level 0.
     */
    protocols: z.array(z.enum(TLS_PROTOCOLS)).min(1),
    /**
     * TLS 1.2 cipher suites by OpenSSL name (`openssl ciphers -v`), e.g. "ECDHE-RSA-AES128-GCM-SHA256";
     * required with TLSv1.2, empty without it. Broken ones (NULL, RC4, DES, MD5, export, anonymous,
     * PSK, SRP) are refused. @default []
     */
    ciphers: z
      .array(
        z
          .string()
          .regex(TLS12_CIPHER_NAME, "must be an OpenSSL TLS 1.2 cipher name like ECDHE-RSA-AES128-GCM-SHA256, not a cipher-string keyword")
          .refine((c) => !BROKEN_TLS12_CIPHER.test(c), "is a broken cipher (no encryption or authentication, RC4, DES, MD5, export grade, PSK or SRP)"),
      )
      .default([]),
    /** TLS 1.3 cipher suites, e.g. "TLS_AES_128_GCM_SHA256"; required with TLSv1.3, empty without it. @default [] */
    ciphersuites: z.array(z.enum(TLS13_CIPHERSUITES)).default([]),
    /**
     * Key exchange groups in preference order, e.g. ["X25519", "prime256v1", "secp384r1"]. The
     * ML-KEM hybrids need OpenSSL 3.5 in the image (haproxy:2.6 has 3.0).
     */
    groups: z.array(z.enum(TLS_GROUPS)).min(1),
    /** Let the client's cipher order win, as Mozilla's profiles do (`prefer-client-ciphers`). @default true */
    preferClientCiphers: z.boolean().default(true),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const field of ["protocols", "ciphers", "ciphersuites", "groups"] as const) {
      for (const d of new Set(duplicates(p[field]))) ctx.addIssue({ code: "custom", path: [field], message: `lists '${d}' twice` });
    }
    const tls12 = p.protocols.includes("TLSv1.2");
    const tls13 = p.protocols.includes("TLSv1.3");
    if (tls12 && p.ciphers.length === 0) ctx.addIssue({ code: "custom", path: ["ciphers"], message: "must list at least one cipher when protocols has TLSv1.2" });
    if (!tls12 && p.ciphers.length > 0) ctx.addIssue({ code: "custom", path: ["ciphers"], message: "are TLS 1.2 ciphers, and protocols leaves TLSv1.2 out: remove them" });
    if (tls13 && p.ciphersuites.length === 0) ctx.addIssue({ code: "custom", path: ["ciphersuites"], message: "must list at least one cipher suite when protocols has TLSv1.3" });
    if (!tls13 && p.ciphersuites.length > 0) ctx.addIssue({ code: "custom", path: ["ciphersuites"], message: "are TLS 1.3 cipher suites, and protocols leaves TLSv1.3 out: remove them" });
  });

type CustomTlsProfileInput = z.input<typeof customTlsProfileSchema>;

/**
 * A profile name or custom lists. Parsed in two steps rather than as a z.union, whose failure would
 * say only "Invalid input": a bad custom list is reported field by field.
 */
const tlsProfileSchema = z.custom<"intermediate" | "modern" | CustomTlsProfileInput>().transform((v, ctx) => {
  if (v === "intermediate" || v === "modern") return v;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    ctx.addIssue({ code: "custom", message: 'must be "intermediate", "modern" or lists of your own: { protocols, ciphers, ciphersuites, groups }' });
    return z.NEVER;
  }
  const custom = customTlsProfileSchema.safeParse(v);
  if (!custom.success) {
    for (const issue of custom.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
    return z.NEVER;
  }
  return custom.data;
});

export const loadBalancerSchema = z
  .object({
    /**
     * The site's public host name, e.g. "www.example.com": the Host of every health check (unless a
     * backend's own healthCheck.host says otherwise), so apps that check Host answer them. @default none
     */
    siteHost: hostName.optional(),
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
        /**
         * PEM file of the certificate and its chain, without the private key, read when the
         * construct is created; its text goes into cdk.tf.json and configs/. A file holding a private
         * key is refused: the key comes from `keyVariable`. Exactly one of this and `certificateVariable`.
         */
        certificateFile: z.string().optional(),
        /** Name of a sensitive Terraform variable holding the PEM certificate and chain, and the key too unless `keyVariable` is set. */
        certificateVariable: identifier.optional(),
        /**
         * Name of the sensitive Terraform variable (no default) holding the PEM private key, uploaded
         * at apply beside the certificate, where HAProxy reads it at start; cdk.tf.json holds only
         * `${var.<name>}`. @default "<id>_tls_key" with `certificateFile`; none with `certificateVariable` (the bundle holds the key)
         */
        keyVariable: identifier.optional(),
        /** Redirect plain HTTP to HTTPS with a 308 (keeps the method and body). @default true */
        redirectHttp: z.boolean().default(true),
        /**
         * Protocols, ciphers and key exchange groups: Mozilla's Server Side TLS 6.0 "intermediate"
         * (TLS 1.2 and 1.3) or "modern" (TLS 1.3 only; Mozilla wants an ECDSA certificate), or lists of
         * your own. @default "intermediate"
         */
        tlsProfile: tlsProfileSchema.default("intermediate"),
        /** Strict-Transport-Security, with the profile's max-age (two years). @default { includeSubDomains: true, preload: false } */
        hsts: z
          .object({
            /** Add `includeSubDomains`, as Mozilla's profiles do: every subdomain must serve HTTPS too. @default true */
            includeSubDomains: z.boolean().default(true),
            /**
             * Add `preload`: consent to being built into browsers (hstspreload.org), which is slow to
             * undo. Needs `includeSubDomains`. @default false
             */
            preload: z.boolean().default(false),
          })
          .strict()
          .refine((h) => !h.preload || h.includeSubDomains, { message: "needs includeSubDomains: browsers' preload lists require it", path: ["preload"] })
          .default({ includeSubDomains: true, preload: false }),
      })
      .strict()
      .refine((h) => (h.certificateFile === undefined) !== (h.certificateVariable === undefined), {
        message: "set exactly one of certificateFile and certificateVariable",
      })
      .refine((h) => h.keyVariable === undefined || h.keyVariable !== h.certificateVariable, {
        message: "keyVariable and certificateVariable must be two variables (leave keyVariable out when the certificate variable holds the key)",
        path: ["keyVariable"],
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
