/**
 * A synthesized cdk.tf.json as the e2e applier reads it. Loose types on purpose: the applier checks
 * the attributes itself (provider-schema.ts) rather than trusting a typed view of them.
 */
import * as fs from "node:fs";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Block = Record<string, Json>;
export interface TfDoc {
  resource?: Record<string, Record<string, Block>>;
  variable?: Record<string, Block>;
  [k: string]: unknown;
}

export function readTfJson(tfJsonPath: string): TfDoc {
  return JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as TfDoc;
}

/** A nested block in Terraform JSON may be written as one object or as a list of them. */
export const list = <T = Block>(v: Json | undefined): T[] => (v === undefined || v === null ? [] : ((Array.isArray(v) ? v : [v]) as T[]));

/** The provider's `labels { label, value }` blocks as a Docker label map. */
export const labelsMap = (v: Json | undefined): Record<string, string> =>
  Object.fromEntries(list(v).map((l) => [String(l.label), String(l.value)]));
