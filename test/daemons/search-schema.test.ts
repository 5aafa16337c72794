/**
 * Elasticsearch 7.17 and OpenSearch 2 cannot be installed here, so their rendered files are checked
 * against an explicit allow-list of the settings those versions accept (and the library renders),
 * with each setting's type and the cross-setting rules the nodes enforce at bootstrap. An unknown
 * key fails, so a typo in the renderer is caught here instead of by a node refusing to start.
 */
import { spawnSync } from "node:child_process";
import { SearchCluster, WebStack } from "../../lib";
import { buildInvenioRdmStack } from "../../examples/invenio-rdm/stack";
import { container, containersOf, fileIn, type Container } from "./harness";

type Engine = "elasticsearch" | "opensearch";
type Scalar = { kind: "scalar"; raw: string; line: number };
type List = { kind: "list"; items: string[]; line: number };
type Value = Scalar | List;

const PYTHON = "/usr/bin/python3";
const MAX_HEAP_MIB = 31744; // below 32 GiB, so the JVM keeps compressed object pointers

/**
 * A parser for the flat YAML the renderer writes: `dotted.key: scalar`, or `dotted.key:` followed by
 * `  - item` lines. Keeps each scalar's raw text (ES and OpenSearch take only `true`/`false` as
 * booleans, where YAML 1.1 would also read yes/no/on/off) and rejects duplicate keys and anything else.
 */
export function parseFlatYaml(text: string): Map<string, Value> {
  const out = new Map<string, Value>();
  let open: List | undefined;
  text.split("\n").forEach((l, i) => {
    const line = i + 1;
    if (/^\s*(#.*)?$/.test(l)) return;
    const item = /^ {2}- (\S.*?)\s*$/.exec(l);
    if (item) {
      if (!open) throw new Error(`line ${line}: list item without a key: ${l}`);
      open.items.push(item[1]);
      return;
    }
    const kv = /^([a-z_][a-z0-9_.]*):(?: (\S.*?))?\s*$/.exec(l);
    if (!kv) throw new Error(`line ${line}: not a flat "key: value" line: ${JSON.stringify(l)}`);
    if (out.has(kv[1])) throw new Error(`line ${line}: duplicate key ${kv[1]}`);
    if (kv[2] === undefined) {
      open = { kind: "list", items: [], line };
      out.set(kv[1], open);
    } else {
      open = undefined;
      out.set(kv[1], { kind: "scalar", raw: kv[2], line });
    }
  });
  for (const [k, v] of out) if (v.kind === "list" && v.items.length === 0) throw new Error(`${k}: empty value`);
  return out;
}

/** The same file through PyYAML: valid YAML, and the same keys with the same values as the flat parser read. */
function pyYaml(text: string): Record<string, unknown> {
  const r = spawnSync(PYTHON, ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"], { input: text, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`PyYAML: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

type Check = (v: Value) => string | undefined;
const scalar = (f: (raw: string) => string | undefined): Check => (v) => (v.kind !== "scalar" ? "must be a scalar" : f(v.raw));
const str: Check = scalar((s) => (/^["']|^[\[{&*!|>%@`]/.test(s) ? `plain string expected, got ${s}` : undefined));
const bool: Check = scalar((s) => (s === "true" || s === "false" ? undefined : `boolean must be true or false, got ${s}`));
const port: Check = scalar((s) => (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 65535 ? undefined : `port must be an integer 1-65535, got ${s}`));
const oneOf = (...vals: string[]): Check => scalar((s) => (vals.includes(s) ? undefined : `must be one of ${vals.join(", ")}, got ${s}`));
const host: Check = scalar((s) => (/^(\d{1,3}(\.\d{1,3}){3}|_(local|site|global)_|[a-z0-9.-]+)$/.test(s) ? undefined : `not an address or special value: ${s}`));
const list = (item: (s: string) => string | undefined): Check => (v) =>
  v.kind !== "list" ? "must be a list" : v.items.map(item).find((e) => e !== undefined);

/** The settings each version accepts that the library renders; nothing else may appear. */
const COMMON: Record<string, Check> = {
  "cluster.name": str,
  "node.name": str,
  "network.host": host,
  "http.port": port,
  "transport.port": port,
  "discovery.type": oneOf("single-node", "multi-node"),
  "discovery.seed_hosts": list((s) => (/^[a-z0-9.-]+:\d+$/.test(s) ? undefined : `seed host must be host:port, got ${s}`)),
  "bootstrap.memory_lock": bool,
};
const SCHEMA: Record<Engine, { yml: string; initialMasters: string; keys: Record<string, Check> }> = {
  elasticsearch: {
    yml: "/usr/share/elasticsearch/config/elasticsearch.yml",
    initialMasters: "cluster.initial_master_nodes",
    keys: { ...COMMON, "cluster.initial_master_nodes": list(() => undefined), "xpack.security.enabled": bool, "xpack.ml.enabled": bool },
  },
  opensearch: {
    yml: "/usr/share/opensearch/config/opensearch.yml",
    initialMasters: "cluster.initial_cluster_manager_nodes",
    keys: { ...COMMON, "cluster.initial_cluster_manager_nodes": list(() => undefined), "plugins.security.disabled": bool },
  },
};

const raw = (m: Map<string, Value>, k: string) => (m.get(k) as Scalar | undefined)?.raw;
const items = (m: Map<string, Value>, k: string) => (m.get(k) as List | undefined)?.items;

/** Every violation of one node's settings file, as "key: problem" lines (empty when valid). */
export function validateSearchYml(engine: Engine, text: string, cluster: { names: string[]; addresses: string[] }): string[] {
  const s = SCHEMA[engine];
  const errors: string[] = [];
  let m: Map<string, Value>;
  try {
    m = parseFlatYaml(text);
  } catch (e) {
    return [(e as Error).message];
  }
  for (const [k, v] of m) {
    const check = s.keys[k];
    if (!check) errors.push(`${k}: unknown setting for ${engine} (line ${v.line})`);
    else {
      const e = check(v);
      if (e) errors.push(`${k}: ${e}`);
    }
  }
  for (const k of ["cluster.name", "node.name", "network.host", "http.port", "transport.port"]) if (!m.has(k)) errors.push(`${k}: missing`);
  const single = raw(m, "discovery.type") === "single-node";
  const seeds = items(m, "discovery.seed_hosts");
  const masters = items(m, s.initialMasters);
  if (single) {
    // Both versions refuse to start: "setting [cluster.initial_master_nodes] is not allowed when [discovery.type] is set to [single-node]".
    if (seeds) errors.push("discovery.seed_hosts: not allowed with discovery.type single-node");
    if (masters) errors.push(`${s.initialMasters}: not allowed with discovery.type single-node`);
    if (cluster.names.length !== 1) errors.push(`discovery.type: single-node in a ${cluster.names.length}-node cluster`);
  } else {
    // The production bootstrap check (network.host is not loopback) needs discovery configured.
    if (!masters) errors.push(`${s.initialMasters}: missing (a new multi-node cluster cannot elect a master)`);
    else if (JSON.stringify([...masters].sort()) !== JSON.stringify([...cluster.names].sort())) errors.push(`${s.initialMasters}: ${masters.join(",")} is not all the nodes (${cluster.names.join(",")})`);
    if (cluster.names.length > 1) {
      const want = cluster.addresses.map((a) => `${a}:${raw(m, "transport.port") ?? "9300"}`);
      if (!seeds) errors.push("discovery.seed_hosts: missing");
      else if (JSON.stringify([...seeds].sort()) !== JSON.stringify([...want].sort())) errors.push(`discovery.seed_hosts: ${seeds.join(",")}, want ${want.join(",")}`);
    }
  }
  return errors;
}

/** Every violation of jvm.options.d/heap.options for a container with memoryMiB of memory. */
export function validateHeap(path: string, text: string, memoryMiB: number): string[] {
  const errors: string[] = [];
  // The JVM launcher reads only files named *.options in jvm.options.d.
  if (!/\/config\/jvm\.options\.d\/[^/]+\.options$/.test(path)) errors.push(`${path}: not a jvm.options.d/*.options file`);
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const xms = lines.filter((l) => l.startsWith("-Xms"));
  const xmx = lines.filter((l) => l.startsWith("-Xmx"));
  if (lines.length !== 2 || xms.length !== 1 || xmx.length !== 1) return [...errors, `exactly one -Xms and one -Xmx expected, got ${JSON.stringify(lines)}`];
  const mib = (flag: string) => /^-Xm[sx](\d+)m$/.exec(flag)?.[1];
  const [s, x] = [mib(xms[0]), mib(xmx[0])];
  if (!s || !x) return [...errors, `sizes must be whole megabytes ("m"): ${xms[0]} ${xmx[0]}`];
  if (s !== x) errors.push(`-Xms${s}m != -Xmx${x}m`);
  if (Number(x) > Math.floor(memoryMiB / 2)) errors.push(`heap ${x}m above half the container's ${memoryMiB} MiB`);
  if (Number(x) > MAX_HEAP_MIB) errors.push(`heap ${x}m above ${MAX_HEAP_MIB}m (compressed oops)`);
  if (Number(x) < 1) errors.push("heap must be positive");
  return errors;
}

function searchNodes(engine: Engine, nodes: number, memoryMiB: number): Container[] {
  const cs = containersOf((scope) => {
    const stack = new WebStack(scope, "s", { subnet: "10.90.0.0/16" });
    new SearchCluster(stack, "search", { engine, nodes, memoryMiB });
    return stack;
  });
  return Array.from({ length: nodes }, (_, i) => container(cs, `search-${i + 1}`));
}

describe("Elasticsearch 7.17 / OpenSearch 2: rendered settings against an allow-list schema", () => {
  for (const engine of ["elasticsearch", "opensearch"] as const) {
    for (const [nodes, memoryMiB] of [[1, 2048], [3, 4096], [3, 131072]] as const) {
      test(`${engine}, ${nodes} node(s), ${memoryMiB} MiB: every setting known, typed and consistent; heap within limits`, () => {
        const cs = searchNodes(engine, nodes, memoryMiB);
        const names = cs.map((c) => c.key);
        const addresses = cs.map((c) => c.address);
        const s = SCHEMA[engine];
        const clusterNames = new Set<string>();
        for (const c of cs) {
          const yml = fileIn(c, s.yml);
          expect({ node: c.key, errors: validateSearchYml(engine, yml, { names, addresses }) }).toEqual({ node: c.key, errors: [] });
          const m = parseFlatYaml(yml);
          // The node is named after its container, and listens where the container says it does.
          expect(raw(m, "node.name")).toBe(c.key);
          expect(c.listens.map((l) => l.port)).toContain(Number(raw(m, "http.port")));
          clusterNames.add(raw(m, "cluster.name")!);
          // PyYAML reads the same document (so the flat parser missed nothing), with real booleans and integers.
          const py = pyYaml(yml);
          expect(Object.keys(py).sort()).toEqual([...m.keys()].sort());
          for (const [k, v] of m) {
            if (v.kind === "list") expect(py[k]).toEqual(v.items);
            else if (s.keys[k] === bool) expect(py[k]).toBe(v.raw === "true");
            else if (s.keys[k] === port) expect(py[k]).toBe(Number(v.raw));
            else expect(String(py[k])).toBe(v.raw);
          }
          if (engine === "elasticsearch") expect(yml).not.toMatch(/^plugins\./m);
          else expect(yml).not.toMatch(/^xpack\./m);

          const heapFile = c.files.find((f) => f.path.includes("/jvm.options.d/"));
          expect(heapFile?.path).toBe(s.yml.replace(/[^/]+\.yml$/, "jvm.options.d/heap.options"));
          expect(c.memoryMiB).toBe(memoryMiB);
          expect({ node: c.key, errors: validateHeap(heapFile!.path, heapFile!.content, memoryMiB) }).toEqual({ node: c.key, errors: [] });
        }
        expect(clusterNames.size).toBe(1);
      });
    }
  }

  test("examples/invenio-rdm's OpenSearch node (the cookiecutter's 512 MiB heap in 2 GiB): every setting known, heap within limits", () => {
    const node = container(containersOf((s) => buildInvenioRdmStack(s)), "search-1");
    const yml = fileIn(node, SCHEMA.opensearch.yml);
    expect(validateSearchYml("opensearch", yml, { names: [node.key], addresses: [node.address] })).toEqual([]);
    const heap = node.files.find((f) => f.path.includes("/jvm.options.d/"))!;
    expect(heap.content).toMatch(/^-Xmx512m$/m);
    expect(validateHeap(heap.path, heap.content, 2048)).toEqual([]);
  });

  test("the schema catches a typo, a wrong type and a forbidden combination (the checker is not a no-op)", () => {
    const [one] = searchNodes("elasticsearch", 1, 2048);
    const three = searchNodes("opensearch", 3, 4096);
    const yml1 = fileIn(one, SCHEMA.elasticsearch.yml);
    const yml3 = fileIn(three[0], SCHEMA.opensearch.yml);
    const cluster1 = { names: [one.key], addresses: [one.address] };
    const cluster3 = { names: three.map((c) => c.key), addresses: three.map((c) => c.address) };
    expect(validateSearchYml("elasticsearch", yml1.replace("discovery.type:", "discovery.typ:"), cluster1)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^discovery\.typ: unknown setting for elasticsearch/)]));
    expect(validateSearchYml("elasticsearch", yml1.replace("xpack.ml.enabled: false", "xpack.ml.enabled: no"), cluster1)).toEqual(
      ["xpack.ml.enabled: boolean must be true or false, got no"]);
    expect(validateSearchYml("elasticsearch", yml1.replace("http.port: 9200", "http.port: 9200-9300"), cluster1)).toEqual(
      ["http.port: port must be an integer 1-65535, got 9200-9300"]);
    expect(validateSearchYml("elasticsearch", `${yml1}cluster.initial_master_nodes:\n  - ${one.key}\n`, cluster1)).toEqual(
      ["cluster.initial_master_nodes: not allowed with discovery.type single-node"]);
    // An Elasticsearch-only key in OpenSearch, and a seed list missing a node.
    expect(validateSearchYml("opensearch", yml3.replace("cluster.initial_cluster_manager_nodes:", "cluster.initial_master_nodes:"), cluster3)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^cluster\.initial_master_nodes: unknown setting for opensearch/)]));
    expect(validateSearchYml("opensearch", yml3.replace(`  - ${three[2].address}:9300\n`, ""), cluster3)).toEqual(
      [expect.stringMatching(/^discovery\.seed_hosts: /)]);
    expect(validateHeap("/usr/share/opensearch/config/jvm.options.d/heap.options", "-Xms1g\n-Xmx1024m\n", 4096)).toEqual(
      [expect.stringMatching(/whole megabytes/)]);
    expect(validateHeap("/usr/share/opensearch/config/jvm.options.d/heap.options", "-Xms2048m\n-Xmx2048m\n", 2048)).toEqual(
      ["heap 2048m above half the container's 2048 MiB"]);
  });
});
