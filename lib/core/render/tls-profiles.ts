/**
 * TLS settings as data: Mozilla's Server Side TLS guidelines, version 6.0
 * (https://wiki.mozilla.org/Security/Server_Side_TLS, machine-readable at
 * https://ssl-config.mozilla.org/guidelines/6.0.json), profiles "intermediate" and "modern", and
 * the names a custom profile may use. Pure: no I/O and no daemon syntax; each renderer of a TLS
 * endpoint (HAProxy today) turns a `TlsProfile` into its own directives.
 */

export const MOZILLA_GUIDELINES_VERSION = "6.0";

/** Protocol versions a profile may accept, oldest first. TLS 1.0 and 1.1 are not offered (see the custom profile). */
export const TLS_PROTOCOLS = ["TLSv1.2", "TLSv1.3"] as const;
export type TlsProtocol = (typeof TLS_PROTOCOLS)[number];

/** Every TLS 1.3 cipher suite OpenSSL implements (RFC 8446 names, as OpenSSL spells them). */
export const TLS13_CIPHERSUITES = [
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_AES_128_CCM_SHA256",
  "TLS_AES_128_CCM_8_SHA256",
] as const;

/**
 * Key exchange groups (curves) by OpenSSL name. The ML-KEM hybrids need OpenSSL 3.5; the
 * haproxy:2.6 image has OpenSSL 3.0, where HAProxy refuses to start with them.
 */
export const TLS_GROUPS = [
  "X25519",
  "X448",
  "prime256v1",
  "secp384r1",
  "secp521r1",
  "ffdhe2048",
  "ffdhe3072",
  "ffdhe4096",
  "ffdhe6144",
  "ffdhe8192",
  "X25519MLKEM768",
  "SecP256r1MLKEM768",
  "SecP384r1MLKEM1024",
] as const;

/** The shape of an OpenSSL TLS 1.2 cipher name (`ECDHE-RSA-AES128-GCM-SHA256`), not a cipher-string keyword such as `HIGH`. */
export const TLS12_CIPHER_NAME = /^[A-Z0-9]+(?:-[A-Z0-9]+)+$/;

/** TLS 1.2 cipher names refused even in a custom profile: no encryption or authentication, broken ciphers or hashes, export grade, or pre-shared keys. */
export const BROKEN_TLS12_CIPHER = /(?:^|-)(?:NULL|RC4|DES|IDEA|SEED|MD5|EXP\d*|ADH|AECDH|PSK|SRP)(?:-|$)/;

export interface TlsProfile {
  /** "intermediate", "modern" or "custom". */
  readonly name: string;
  /** Protocol versions accepted, oldest first, without gaps. */
  readonly protocols: readonly TlsProtocol[];
  /** TLS 1.2 cipher suites (OpenSSL names), in preference order; empty without TLS 1.2. */
  readonly ciphers: readonly string[];
  /** TLS 1.3 cipher suites, in preference order; empty without TLS 1.3. */
  readonly ciphersuites: readonly string[];
  /** Key exchange groups, in preference order (TLS 1.3 key shares and TLS 1.2 ECDHE curves alike). */
  readonly groups: readonly string[];
  /** The client's cipher order wins (Mozilla's `server_preferred_order: false`). */
  readonly preferClientCiphers: boolean;
  /** `max-age` of Strict-Transport-Security, seconds (Mozilla's `hsts_min_age`). */
  readonly hstsMaxAgeSeconds: number;
}

/** Two years: `hsts_min_age` of every 6.0 profile. */
const MOZILLA_HSTS_MAX_AGE = 63072000;

/**
 * 6.0 lists X25519MLKEM768 first among the groups of both profiles. It needs OpenSSL 3.5, and
 * Mozilla's generator leaves it out for older OpenSSL; so do we, since the haproxy:2.6 image has
 * OpenSSL 3.0. An image with OpenSSL 3.5 can add it through a custom profile.
 */
const MOZILLA_GROUPS_BEFORE_OPENSSL_3_5 = ["X25519", "prime256v1", "secp384r1"] as const;
const MOZILLA_TLS13_CIPHERSUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] as const;

export const TLS_PROFILES = {
  /** For general-purpose servers: TLS 1.2 and 1.3, ECDHE with AEAD ciphers only (oldest clients: Firefox 31.3, Android 4.4.2, Chrome 49, IE 11 on Windows 10, Java 8u161, Safari 9). */
  intermediate: {
    name: "intermediate",
    protocols: ["TLSv1.2", "TLSv1.3"],
    ciphers: [
      "ECDHE-ECDSA-AES128-GCM-SHA256",
      "ECDHE-RSA-AES128-GCM-SHA256",
      "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-RSA-AES256-GCM-SHA384",
      "ECDHE-ECDSA-CHACHA20-POLY1305",
      "ECDHE-RSA-CHACHA20-POLY1305",
    ],
    ciphersuites: MOZILLA_TLS13_CIPHERSUITES,
    groups: MOZILLA_GROUPS_BEFORE_OPENSSL_3_5,
    preferClientCiphers: true,
    hstsMaxAgeSeconds: MOZILLA_HSTS_MAX_AGE,
  },
  /** TLS 1.3 only, for services whose clients are all recent (Firefox 63, Android 10, Chrome 70, Edge 75, Java 11, OpenSSL 1.1.1, Safari 12.1). Mozilla wants an ECDSA certificate with it. */
  modern: {
    name: "modern",
    protocols: ["TLSv1.3"],
    ciphers: [],
    ciphersuites: MOZILLA_TLS13_CIPHERSUITES,
    groups: MOZILLA_GROUPS_BEFORE_OPENSSL_3_5,
    preferClientCiphers: true,
    hstsMaxAgeSeconds: MOZILLA_HSTS_MAX_AGE,
  },
} as const satisfies Record<string, TlsProfile>;

export type TlsProfileName = keyof typeof TLS_PROFILES;

/** The lists of a custom profile, as the props give them (validated by the load balancer schema). */
export interface CustomTlsProfile {
  readonly protocols: readonly TlsProtocol[];
  readonly ciphers: readonly string[];
  readonly ciphersuites: readonly string[];
  readonly groups: readonly string[];
  readonly preferClientCiphers: boolean;
}

/** A named Mozilla profile, or a custom one (with Mozilla's HSTS max-age), as one `TlsProfile`. */
export function resolveTlsProfile(profile: TlsProfileName | CustomTlsProfile): TlsProfile {
  if (typeof profile === "string") return TLS_PROFILES[profile];
  const protocols = TLS_PROTOCOLS.filter((p) => profile.protocols.includes(p));
  return { name: "custom", ...profile, protocols, hstsMaxAgeSeconds: MOZILLA_HSTS_MAX_AGE };
}

export interface HstsOptions {
  readonly includeSubDomains: boolean;
  readonly preload: boolean;
}

/** The Strict-Transport-Security value: `max-age=63072000; includeSubDomains` for Mozilla's profiles. */
export function hstsHeaderValue(profile: TlsProfile, options: HstsOptions): string {
  return [`max-age=${profile.hstsMaxAgeSeconds}`, ...(options.includeSubDomains ? ["includeSubDomains"] : []), ...(options.preload ? ["preload"] : [])].join("; ");
}
