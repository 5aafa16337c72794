/**
 * A small YAML writer for the rendered Prometheus, Alertmanager and exporter files: block mappings
 * and sequences in the order given, every string double-quoted (JSON's escaping is valid YAML), so
 * no value is ever read as another type. Deterministic: the same value gives the same text.
 */
export type YamlValue = string | number | boolean | null | readonly YamlValue[] | { readonly [key: string]: YamlValue | undefined };

const scalar = (v: string | number | boolean | null) => (typeof v === "string" ? JSON.stringify(v) : String(v));
const isScalar = (v: YamlValue): v is string | number | boolean | null => v === null || typeof v !== "object";
const key = (k: string) => (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k));

function lines(v: YamlValue, indent: string): string[] {
  if (isScalar(v)) return [`${indent}${scalar(v)}`];
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${indent}[]`];
    return (v as readonly YamlValue[]).flatMap((item) => {
      if (isScalar(item) || (Array.isArray(item) && item.length === 0)) return [`${indent}- ${isScalar(item) ? scalar(item) : "[]"}`];
      const inner = lines(item, `${indent}  `);
      return [`${indent}- ${inner[0].slice(indent.length + 2)}`, ...inner.slice(1)];
    });
  }
  const entries = Object.entries(v as Record<string, YamlValue | undefined>).filter((e): e is [string, YamlValue] => e[1] !== undefined);
  if (entries.length === 0) return [`${indent}{}`];
  return entries.flatMap(([k, item]) => {
    if (isScalar(item)) return [`${indent}${key(k)}: ${scalar(item)}`];
    if (Array.isArray(item) && item.length === 0) return [`${indent}${key(k)}: []`];
    if (!Array.isArray(item) && Object.keys(item).length === 0) return [`${indent}${key(k)}: {}`];
    return [`${indent}${key(k)}:`, ...lines(item, `${indent}  `)];
  });
}

export function toYaml(value: YamlValue, header?: string): string {
  return [...(header ? [`# ${header}`] : []), ...lines(value, ""), ""].join("\n");
}
