/**
 * Confirms template problems with HashiCorp's own HCL template parser (the hclsyntax Go code, shipped
 * as WebAssembly in @cdktf/hcl2json, a dependency of cdktf-cli): every string attribute of every
 * resource is parsed as a quoted template, exactly as Terraform parses strings in .tf.json files.
 * Returns the parser's own messages, mapped back to resource and attribute.
 */
import * as fs from "node:fs";

interface Str {
  resource: string;
  attribute: string;
  value: string;
}

function strings(v: unknown, resource: string, attribute: string, out: Str[]): void {
  if (typeof v === "string") out.push({ resource, attribute, value: v });
  else if (Array.isArray(v)) v.forEach((x, i) => strings(x, resource, `${attribute}[${i}]`, out));
  else if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) if (k !== "//") strings(x, resource, attribute ? `${attribute}.${k}` : k, out);
  }
}

export async function hclTemplateErrors(tfJsonPath: string): Promise<string[]> {
  const doc = JSON.parse(fs.readFileSync(tfJsonPath, "utf8")) as { resource?: Record<string, Record<string, unknown>> };
  const all: Str[] = [];
  for (const [type, rs] of Object.entries(doc.resource ?? {})) for (const [name, r] of Object.entries(rs)) strings(r, `${type}.${name}`, "", all);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require("@cdktf/hcl2json") as { parse: (file: string, src: string) => Promise<unknown> };
  const errors: string[] = [];
  // One string per file: the parser stops at the first error of a file.
  for (const s of all) {
    if (!s.value.includes("${") && !s.value.includes("%{")) continue;
    try {
      await parse("check.tf", `locals {\n  s = ${JSON.stringify(s.value)}\n}\n`);
    } catch (e) {
      const msg = String((e as Error).message ?? e).replace(/^parse config: \[|\]$/g, "");
      errors.push(`${s.resource} ${s.attribute}: ${msg}`);
    }
  }
  return errors;
}
