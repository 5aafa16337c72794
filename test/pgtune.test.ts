/**
 * Our postgresql.conf against pgtune's for the same machine, within the tolerance the README states
 * ("How the PostgreSQL settings are derived").
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Database, RULES } from "../lib";
import { evaluateBudgets } from "../lib/core/budgets/evaluate";
import { planCluster } from "../lib/core/plan";
import { newStack, synthJson } from "./helpers";

// ---------------------------------------------------------------------------------------------------
// ORACLE: pgtune (2026 formulas of github.com/le0pard/pgtune, src/features/configuration/
// configurationSlice.js, as of 2026-06) re-stated here for its inputs DB version 15, OS Linux, DB type
// "Web application", database size "mid_ram" (its default). It imports nothing from lib/: it is the
// independent reference. It returns what pgtune prints, setting by setting (values in pgtune's format).
// ---------------------------------------------------------------------------------------------------
type Storage = "ssd" | "hdd" | "san";
interface Machine {
  readonly gib: number;
  readonly cpus: number;
  readonly storage: Storage;
  readonly connections: number;
}

const KB = { MB: 1024, GB: 1024 * 1024 };
/** pgtune's formatValue: GB or MB when exact, else kB. */
const pgtuneFormat = (kb: number) => (kb % KB.GB === 0 ? `${kb / KB.GB}GB` : kb % KB.MB === 0 ? `${kb / KB.MB}MB` : `${kb}kB`);

function pgtuneOracle(m: Machine): Record<string, string> {
  const ram = m.gib * KB.GB;
  const shared = Math.floor(ram / 4);
  const maintenance = Math.floor(ram / 16) >= 8 * KB.GB ? 8 * KB.GB : Math.floor(ram / 16);
  let wal = Math.floor((3 * shared) / 100);
  wal = wal > 16 * KB.MB ? 16 * KB.MB : wal;
  wal = wal > 14 * KB.MB && wal < 16 * KB.MB ? 16 * KB.MB : wal;
  wal = wal < 32 ? 32 : wal;
  const parallel: Record<string, string> =
    m.cpus < 4
      ? {}
      : {
          max_worker_processes: `${m.cpus}`,
          max_parallel_workers_per_gather: `${Math.min(4, Math.ceil(m.cpus / 2))}`,
          max_parallel_workers: `${m.cpus}`,
          max_parallel_maintenance_workers: `${Math.min(4, Math.ceil(m.cpus / 2))}`,
        };
  const workersForWorkMem = m.cpus < 4 ? 8 : m.cpus;
  const workMem = Math.max(4 * KB.MB, Math.floor((ram - shared) / ((m.connections + workersForWorkMem) * 3)));
  const out: Record<string, string> = {
    max_connections: `${m.connections}`,
    shared_buffers: pgtuneFormat(shared),
    effective_cache_size: pgtuneFormat(Math.floor((ram * 3) / 4)),
    maintenance_work_mem: pgtuneFormat(maintenance),
    checkpoint_completion_target: "0.9",
    wal_buffers: pgtuneFormat(wal),
    default_statistics_target: "100",
    random_page_cost: m.storage === "hdd" ? "4" : "1.1",
    effective_io_concurrency: { hdd: "2", ssd: "200", san: "300" }[m.storage],
    work_mem: pgtuneFormat(workMem),
    huge_pages: shared >= 2 * KB.GB ? "try" : "off",
    jit: "off",
    wal_compression: "lz4",
    min_wal_size: "1GB",
    max_wal_size: "4GB",
    ...parallel,
  };
  if (m.cpus >= 16) out.autovacuum_max_workers = m.cpus >= 32 ? "5" : "4";
  if (maintenance >= 2 * KB.GB) out.autovacuum_work_mem = "2GB";
  return out;
}

/** PostgreSQL 15's defaults of the settings pgtune leaves out on some machines. */
const PG15_DEFAULTS: Record<string, string> = {
  max_worker_processes: "8",
  max_parallel_workers: "8",
  max_parallel_workers_per_gather: "2",
  max_parallel_maintenance_workers: "2",
  autovacuum_max_workers: "3",
  autovacuum_work_mem: "-1",
};
// ----------------------------------------------------------------------------------- end of oracle

/** What PostgreSQL runs with: the file's value, else its default. */
const effective = (conf: Record<string, string>, name: string) => conf[name] ?? PG15_DEFAULTS[name];
const kB = (v: string) => {
  const m = /^(\d+)(kB|MB|GB)$/.exec(v);
  if (!m) throw new Error(`not a size: ${v}`);
  return Number(m[1]) * { kB: 1, MB: KB.MB, GB: KB.GB }[m[2] as "kB" | "MB" | "GB"];
};

/** The primary's rendered postgresql.conf as name -> value, and WS-DB-MEMORY's status, for `m`. */
function ours(m: Machine, props: object = {}): { conf: Record<string, string>; memory: string } {
  const stack = newStack();
  new Database(stack, "db", { memoryMiB: m.gib * 1024, cpus: m.cpus, storage: m.storage, maxConnections: m.connections, ...props });
  const topology = stack.topology();
  const file = planCluster(topology)
    .containers.find((c) => c.key === "db-primary")!
    .files.find((f) => f.path.endsWith("/postgresql.conf"))!.content;
  const conf: Record<string, string> = {};
  for (const line of file.split("\n")) {
    const kv = /^([a-z_.]+) = '?(.*?)'?$/.exec(line);
    if (kv) conf[kv[1]] = kv[2];
  }
  const memory = evaluateBudgets(topology, RULES).find((f) => f.ruleId === "WS-DB-MEMORY")!.status;
  return { conf, memory };
}

// The tolerance, as the README states it.
const EXACT = [
  "max_connections", "shared_buffers", "effective_cache_size", "maintenance_work_mem", "autovacuum_work_mem", "huge_pages",
  "min_wal_size", "max_wal_size", "checkpoint_completion_target", "wal_compression", "default_statistics_target",
  "random_page_cost", "effective_io_concurrency", "jit", "max_worker_processes",
];
const PARALLEL = ["max_parallel_workers", "max_parallel_workers_per_gather", "max_parallel_maintenance_workers"];
const BACKEND_OVERHEAD_MIB = 6;
/** The derived work_mem's floor: 0.25 x pgtune's own 4 MB floor. */
const MIN_WORK_MEM_KB = 1024;

const MEMORY_GIB = [1, 2, 4, 8, 16, 64];
const CPUS = [2, 3, 4, 8, 16];
const STORAGE: Storage[] = ["ssd", "hdd", "san"];
const CONNECTIONS = [50, 200];
const machines: Machine[] = MEMORY_GIB.flatMap((gib) => CPUS.flatMap((cpus) => STORAGE.flatMap((storage) => CONNECTIONS.map((connections) => ({ gib, cpus, storage, connections })))));

describe("postgresql.conf against pgtune (2026), web application, PostgreSQL 15", () => {
  test.each(machines.map((m) => [`${m.gib} GiB, ${m.cpus} CPUs, ${m.storage}, ${m.connections} connections`, m] as const))("%s", (_name, m) => {
    const pg = pgtuneOracle(m);
    const { conf } = ours(m);
    for (const name of EXACT) expect({ name, value: effective(conf, name) }).toEqual({ name, value: effective(pg, name) });

    // wal_buffers: pgtune's, down to PostgreSQL's 8 kB page (PostgreSQL does the same to pgtune's).
    expect(kB(conf.wal_buffers)).toBe(Math.floor(kB(pg.wal_buffers) / 8) * 8);

    // Parallel workers: pgtune's from 4 CPUs; below, the same formulas on the CPUs there are (pgtune leaves 8 and 2).
    for (const name of PARALLEL) {
      const expected = m.cpus >= 4 ? effective(pg, name) : `${name === "max_parallel_workers" ? m.cpus : Math.ceil(m.cpus / 2)}`;
      expect({ name, value: conf[name] }).toEqual({ name, value: expected });
    }

    // autovacuum_max_workers stays at PostgreSQL's 3 (pgtune: 4 from 16 CPUs).
    expect(effective(conf, "autovacuum_max_workers")).toBe("3");

    // work_mem: pgtune's whenever the container's budget holds it, else what fits, at least 1 MiB.
    const pgWork = kB(pg.work_mem);
    const ourWork = kB(conf.work_mem);
    expect(ourWork).toBeLessThanOrEqual(pgWork);
    if (ourWork < pgWork) {
      expect(ourWork).toBeGreaterThanOrEqual(Math.max(MIN_WORK_MEM_KB, pgWork * 0.25));
      // pgtune's would not fit: the budget gives backends half of what shared memory, maintenance and
      // their overhead leave.
      const backends = m.connections + Number(conf.max_parallel_workers);
      const leftKb = m.gib * KB.GB - kB(conf.shared_buffers) - kB(conf.wal_buffers) - kB(conf.maintenance_work_mem) - backends * BACKEND_OVERHEAD_MIB * KB.MB;
      expect(backends * pgWork).toBeGreaterThan(leftKb / 2);
    }
  });

  test("every setting pgtune writes for PostgreSQL 15 is in our file, except autovacuum_max_workers", () => {
    const m: Machine = { gib: 64, cpus: 32, storage: "ssd", connections: 200 };
    const missing = Object.keys(pgtuneOracle(m)).filter((name) => !(name in ours(m).conf));
    expect(missing).toEqual(["autovacuum_max_workers"]);
  });

  test("the README's comparison table is what this oracle and the library give", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## How the PostgreSQL settings are derived"), readme.indexOf("## What synth writes"));
    const rows = MEMORY_GIB.flatMap((gib) =>
      [2, 8].map((cpus) => {
        const m: Machine = { gib, cpus, storage: "ssd", connections: 200 };
        const pg = pgtuneOracle(m);
        const { conf, memory } = ours(m);
        const parallel = (c: Record<string, string>) => PARALLEL.map((n) => effective(c, n)).join(" / ");
        return `| ${gib} GiB | ${cpus} | ${conf.shared_buffers} | ${conf.effective_cache_size} | ${conf.maintenance_work_mem} | ${conf.wal_buffers} | ${pg.work_mem} | ${conf.work_mem} | ${parallel(pg)} | ${parallel(conf)} | ${memory} |`;
      }),
    );
    for (const row of rows) expect(section).toContain(`${row}\n`);
  });
});

describe("cpus", () => {
  test("unset: the settings assume 2 CPUs and the container has no CPU limit", () => {
    const stack = newStack();
    new Database(stack, "db", { replicas: 1 });
    const json = synthJson(stack);
    const containers = Object.values(json.resource.docker_container) as { name: string; cpus?: string }[];
    expect(containers.filter((c) => c.name.includes("db")).map((c) => c.cpus)).toEqual([undefined, undefined]);
    expect(ours({ gib: 4, cpus: 2, storage: "ssd", connections: 200 }).conf.max_parallel_workers).toBe("2");
  });

  test("set: the primary's and the replica's CPU limit, and the same worker settings on both", () => {
    const stack = newStack();
    new Database(stack, "db", { replicas: 1, cpus: 4, memoryMiB: 4096 });
    const json = synthJson(stack);
    const containers = Object.values(json.resource.docker_container) as { name: string; cpus?: string }[];
    expect(containers.filter((c) => c.name.includes("db")).map((c) => c.cpus)).toEqual(["4", "4"]);
    const confs = stack.cluster().plan.containers.filter((c) => c.role.startsWith("postgres")).map((c) => c.files.find((f) => f.path.endsWith("postgresql.conf"))!.content);
    const workers = (conf: string) => conf.split("\n").filter((l) => /^max_(worker_processes|parallel_\w+) = /.test(l));
    expect(workers(confs[0])).toEqual(["max_parallel_workers = 4", "max_parallel_workers_per_gather = 2", "max_parallel_maintenance_workers = 2", "max_worker_processes = 4"]);
    expect(workers(confs[1])).toEqual(workers(confs[0]));
    expect(stack.cluster().findings.filter((f) => f.ruleId === "WS-DB-STANDBY-SETTINGS").map((f) => f.status)).toEqual(["pass", "pass", "pass", "pass", "pass"]);
  });

  test("maxWorkerProcesses bounds the parallel workers", () => {
    const { conf } = ours({ gib: 16, cpus: 16, storage: "ssd", connections: 200 }, { maxWorkerProcesses: 6 });
    expect([conf.max_worker_processes, conf.max_parallel_workers, conf.max_parallel_workers_per_gather]).toEqual(["6", "6", "4"]);
  });
});

describe("WS-DB-MEMORY counts what the pgtune settings use", () => {
  test("wal_buffers and the parallel workers are in the sum", () => {
    const stack = newStack();
    new Database(stack, "db", { memoryMiB: 8192, cpus: 8, maxConnections: 200 });
    const f = stack.cluster().findings.find((x) => x.ruleId === "WS-DB-MEMORY")!;
    // 2 GiB + 16 MiB + 512 MiB + (200 + 8) x (10082 kB + 6 MiB)
    const expected = Math.ceil(2048 + 16 + 512 + 208 * (10082 / 1024 + 6));
    expect(f.used).toBe(expected);
    expect(f.lines).toContain("shared_buffers 2 GiB + wal_buffers 16 MiB");
    expect(f.lines.some((l) => l.startsWith("+ max_parallel_workers 8 x (work_mem 9.85 MiB + backend 6 MiB)"))).toBe(true);
  });

  test("the default Database passes: 200 connections in 2560 MiB", () => {
    const stack = newStack();
    new Database(stack, "db");
    const f = stack.cluster().findings.find((x) => x.ruleId === "WS-DB-MEMORY")!;
    expect(f.status).toBe("pass");
  });
});
