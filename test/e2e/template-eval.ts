/**
 * Strings in a cdk.tf.json are Terraform templates, so the applier evaluates them as Terraform would:
 * the references the library emits (`${var.X}`, `${docker_network.X.name}`, `${docker_image.X.image_id}`,
 * `${docker_volume.X.name}`, on a swarm `${docker_config.X.id}`, `${docker_secret.X.name}` and the calls
 * base64encode, sha256 and substr) resolve, `$${` and `%%{` unescape. Any other `${...}` or `%{...}` would be
 * an expression or directive to Terraform, which would reject the file; it is reported as a template
 * problem instead of being passed through silently.
 */
import { createHash } from "node:crypto";
import { readTfJson, type Block, type Json } from "./tf-json";

export interface TemplateProblem {
  resource: string;
  attribute: string;
  text: string;
  reason: string;
}

/** Values of the references a template may use, by resource name. */
export interface Refs {
  vars: Record<string, string>;
  networks: Record<string, string>;
  images: Record<string, string>;
  volumes: Record<string, string>;
  /** docker_config and docker_secret (a swarm target): id and name of each, by resource name. */
  configs?: Record<string, { id: string; name: string }>;
  secrets?: Record<string, { id: string; name: string }>;
}

/**
 * Renders one Terraform string template. Unknown interpolations/directives are reported through
 * `problem` and kept literally (what the author evidently meant).
 */
export function renderTemplate(s: string, refs: Refs, problem: (text: string, reason: string) => void): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    if (s.startsWith("$${", i)) {
      out += "${";
      i += 3;
    } else if (s.startsWith("%%{", i)) {
      out += "%{";
      i += 3;
    } else if (s.startsWith("${", i) || s.startsWith("%{", i)) {
      const end = s.indexOf("}", i);
      const whole = end < 0 ? s.slice(i) : s.slice(i, end + 1);
      const expr = (end < 0 ? s.slice(i + 2) : s.slice(i + 2, end)).trim().replace(/^~|~$/g, "").trim();
      if (s[i] === "%") {
        problem(whole, "Terraform parses `%{` as a template directive (escape it as `%%{`)");
        out += whole;
      } else {
        const v = evaluate(expr, refs);
        if (v === undefined) {
          problem(whole, "Terraform parses `${` as an interpolation; this is not a reference the stack declares (escape it as `$${`)");
          out += whole;
        } else out += v;
      }
      i += whole.length;
    } else {
      out += s[i];
      i += 1;
    }
  }
  return out;
}

/** Top-level comma-separated arguments of a call (parentheses and string literals respected). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === "\\") i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out;
}

/**
 * The functions the swarm target's templates call, as Terraform's do: base64encode (standard
 * alphabet), sha256 (lower-case hex) and substr(string, offset, length) over references and literals.
 */
const FUNCTIONS: Record<string, (args: string[]) => string | undefined> = {
  base64encode: ([a]) => Buffer.from(a, "utf8").toString("base64"),
  sha256: ([a]) => createHash("sha256").update(a, "utf8").digest("hex"),
  substr: ([a, offset, length]) => (/^\d+$/.test(offset) && /^-?\d+$/.test(length) ? [...a].slice(Number(offset), Number(length) < 0 ? undefined : Number(offset) + Number(length)).join("") : undefined),
};
const ARITY: Record<string, number> = { base64encode: 1, sha256: 1, substr: 3 };

/** A reference, a literal, or a call of one of FUNCTIONS; undefined for anything else. */
function evaluate(expr: string, refs: Refs): string | undefined {
  const e = expr.trim();
  if (/^-?\d+$/.test(e)) return e;
  if (/^"([^"\\$%]|\\.)*"$/.test(e)) return JSON.parse(e) as string;
  const call = /^([a-z0-9]+)\((.*)\)$/s.exec(e);
  if (call) {
    const fn = FUNCTIONS[call[1]];
    const args = splitArgs(call[2]);
    if (!fn || args.length !== ARITY[call[1]]) return undefined;
    const values = args.map((a) => evaluate(a, refs));
    return values.every((v) => v !== undefined) ? fn(values as string[]) : undefined;
  }
  return resolveRef(e, refs);
}

function resolveRef(expr: string, refs: Refs): string | undefined {
  let m = /^var\.([A-Za-z_][A-Za-z0-9_-]*)$/.exec(expr);
  if (m) return refs.vars[m[1]];
  m = /^docker_network\.([A-Za-z_][A-Za-z0-9_-]*)\.name$/.exec(expr);
  if (m) return refs.networks[m[1]];
  m = /^docker_image\.([A-Za-z_][A-Za-z0-9_-]*)\.(image_id|name)$/.exec(expr);
  if (m) return refs.images[m[1]];
  m = /^docker_volume\.([A-Za-z_][A-Za-z0-9_-]*)\.name$/.exec(expr);
  if (m) return refs.volumes[m[1]];
  m = /^docker_(config|secret)\.([A-Za-z_][A-Za-z0-9_-]*)\.(id|name)$/.exec(expr);
  if (m) return (m[1] === "config" ? refs.configs : refs.secrets)?.[m[2]]?.[m[3] as "id" | "name"];
  return undefined;
}

/** Deep-renders every string of a value. */
function renderDeep(v: Json, refs: Refs, problem: (attr: string, text: string, reason: string) => void, attr: string): Json {
  if (typeof v === "string") return renderTemplate(v, refs, (t, r) => problem(attr, t, r));
  if (Array.isArray(v)) return v.map((x, i) => renderDeep(x, refs, problem, `${attr}[${i}]`));
  if (v && typeof v === "object") {
    const o: Record<string, Json> = {};
    // lifecycle holds expressions Terraform evaluates after the create (lifecycle.ts), not templates of the resource.
    for (const [k, x] of Object.entries(v)) o[k] = k === "//" || (k === "lifecycle" && attr === "") ? x : renderDeep(x, refs, problem, attr ? `${attr}.${k}` : k);
    return o;
  }
  return v;
}

/** Every template problem in a cdk.tf.json (all resources, with placeholder reference values). */

/** Deep-renders one resource, adding each problem with the resource's address and attribute path. */
export function renderResource(type: string, name: string, r: Block, refs: Refs, problems: TemplateProblem[]): Block {
  return renderDeep(r, refs, (attribute, text, reason) => problems.push({ resource: `${type}.${name}`, attribute, text, reason }), "") as Block;
}

/** Every template problem in a cdk.tf.json (all resources, with placeholder reference values). */
export function templateProblems(tfJsonPath: string): TemplateProblem[] {
  const doc = readTfJson(tfJsonPath);
  const problems: TemplateProblem[] = [];
  const any = new Proxy({}, { get: () => "x" }) as Record<string, string>;
  const anyObject = new Proxy({}, { get: () => ({ id: "x", name: "x" }) }) as Record<string, { id: string; name: string }>;
  const refs: Refs = { vars: any, networks: any, images: any, volumes: any, configs: anyObject, secrets: anyObject };
  for (const [type, rs] of Object.entries(doc.resource ?? {})) {
    for (const [name, r] of Object.entries(rs)) renderResource(type, name, r, refs, problems);
  }
  return problems;
}

export const fmtProblem = (p: TemplateProblem) => `${p.resource} ${p.attribute}: ${JSON.stringify(p.text)} — ${p.reason}`;
