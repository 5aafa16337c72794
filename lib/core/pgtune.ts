/**
 * PostgreSQL settings the way pgtune (https://pgtune.leopard.in.ua, github.com/le0pard/pgtune) derives
 * them, for its "Web application" profile on Linux, PostgreSQL 15, database size "mid_ram" (pgtune's
 * default: the data is bigger than RAM's cache share but not much bigger).
 *
 * Version followed: pgtune as of 2026 (the formulas of src/features/configuration/configurationSlice.js
 * after its 2026 rework, last changed 2026-06-09): maintenance_work_mem capped at 8 GB (was 2 GB),
 * work_mem at least 4 MB (was 64 kB), huge_pages from shared_buffers >= 2 GB (was RAM >= 32 GB), and the
 * new jit, wal_compression and autovacuum_work_mem. Written here from those formulas, not copied.
 *
 * Where we differ, on purpose (README "How the PostgreSQL settings are derived" has the table):
 * - parallel workers below 4 CPUs (pgtune leaves PostgreSQL's defaults, sized for 8 cores);
 * - autovacuum_max_workers stays at PostgreSQL's 3 (pgtune: 4 from 16 CPUs, 5 from 32);
 * - work_mem is capped by the container's memory budget in derive.ts (pgtune knows no container limit);
 * - wal_buffers is rounded down to PostgreSQL's 8 kB unit (PostgreSQL would do the same).
 * Every memory value here is in kB, as pgtune computes it, so it matches pgtune to the kilobyte.
 */

/** What the data directory sits on: it sets the planner's random-read cost and the prefetch depth. */
export type StorageKind = "ssd" | "hdd" | "san";

export interface PgtuneInput {
  /** The container's memory limit: pgtune's "total memory". */
  readonly memoryMiB: number;
  /** CPUs of the container: pgtune's "number of CPUs". */
  readonly cpus: number;
  readonly storage: StorageKind;
  readonly maxConnections: number;
  /** shared_buffers when the user set it (sharedBuffersMiB); wal_buffers, huge_pages and work_mem follow it. */
  readonly sharedBuffersKiB?: number;
  /** max_worker_processes when the user set it (maxWorkerProcesses); the parallel settings stay within it. */
  readonly maxWorkerProcesses?: number;
}

export interface PgtuneSettings {
  readonly input: PgtuneInput;
  readonly sharedBuffersKiB: number;
  readonly effectiveCacheSizeKiB: number;
  readonly maintenanceWorkMemKiB: number;
  /** null: not written, autovacuum uses maintenance_work_mem. */
  readonly autovacuumWorkMemKiB: number | null;
  /** pgtune's work_mem, before derive.ts fits it into the container's memory budget. */
  readonly workMemKiB: number;
  readonly walBuffersKiB: number;
  readonly minWalSizeKiB: number;
  readonly maxWalSizeKiB: number;
  readonly checkpointCompletionTarget: number;
  readonly defaultStatisticsTarget: number;
  readonly randomPageCost: number;
  readonly effectiveIoConcurrency: number;
  readonly hugePages: "try" | "off";
  readonly jit: "off";
  readonly walCompression: "lz4";
  readonly maxWorkerProcesses: number;
  readonly maxParallelWorkers: number;
  readonly maxParallelWorkersPerGather: number;
  readonly maxParallelMaintenanceWorkers: number;
}

const KB_PER_MB = 1024;
const KB_PER_GB = 1024 * 1024;

/** PostgreSQL's own max_worker_processes (and pgtune's, which leaves it below 4 CPUs). */
export const PG_DEFAULT_MAX_WORKER_PROCESSES = 8;
/** pgtune tunes parallel query from this many CPUs up. */
export const PGTUNE_PARALLEL_MIN_CPUS = 4;
/** pgtune's cap on workers per query and per maintenance command for non-warehouse profiles. */
export const PGTUNE_MAX_WORKERS_PER_OPERATION = 4;

/** A quarter of RAM: the rest is left to the kernel's page cache, which PostgreSQL reads through. */
export function sharedBuffersKiB(memoryKiB: number): number {
  return Math.floor(memoryKiB / 4);
}

/** Only a planner hint (no memory is allocated): shared_buffers plus the page cache, 3/4 of RAM. */
export function effectiveCacheSizeKiB(memoryKiB: number): number {
  return Math.floor((memoryKiB * 3) / 4);
}

/**
 * RAM / 16, capped at 8 GB (pgtune 2026; 2 GB before). VACUUM and CREATE INDEX run one per session,
 * so a larger value is cheap on a big machine; PostgreSQL 15's VACUUM uses at most 1 GB of it.
 */
export function maintenanceWorkMemKiB(memoryKiB: number): number {
  return Math.min(Math.floor(memoryKiB / 16), 8 * KB_PER_GB);
}

/**
 * Each autovacuum worker may take autovacuum_work_mem (by default maintenance_work_mem); pgtune 2026
 * caps it at 2 GB once maintenance_work_mem reaches that, so 3 workers cannot take 3 x 8 GB.
 */
export function autovacuumWorkMemKiB(maintenanceKiB: number): number | null {
  return maintenanceKiB >= 2 * KB_PER_GB ? 2 * KB_PER_GB : null;
}

/**
 * 3% of shared_buffers, at least 32 kB and at most 16 MB (one WAL segment; more buys nothing), and
 * 16 MB from 14 MB up. PostgreSQL counts wal_buffers in 8 kB pages and drops a partial page: rounding
 * down here renders the value PostgreSQL uses, so SHOW wal_buffers prints what the file says.
 */
export function walBuffersKiB(sharedKiB: number): number {
  let kb = Math.floor((3 * sharedKiB) / 100);
  if (kb > 16 * KB_PER_MB) kb = 16 * KB_PER_MB;
  if (kb > 14 * KB_PER_MB && kb < 16 * KB_PER_MB) kb = 16 * KB_PER_MB;
  if (kb < 32) kb = 32;
  return Math.floor(kb / 8) * 8;
}

/** Huge pages pay off once the shared memory is large; "try" falls back when the host has none reserved. */
export function hugePages(sharedKiB: number): "try" | "off" {
  return sharedKiB >= 2 * KB_PER_GB ? "try" : "off";
}

/** 1.1 where a random read costs about a sequential one (SSD, SAN cache); PostgreSQL's 4 on spinning disks. */
export function randomPageCost(storage: StorageKind): number {
  return storage === "hdd" ? 4 : 1.1;
}

/** Reads PostgreSQL asks the kernel to prefetch at once: a disk head does 2, an SSD's queues 200, a SAN 300. */
export function effectiveIoConcurrency(storage: StorageKind): number {
  return { hdd: 2, ssd: 200, san: 300 }[storage];
}

export interface ParallelSettings {
  readonly maxWorkerProcesses: number;
  readonly maxParallelWorkers: number;
  readonly maxParallelWorkersPerGather: number;
  readonly maxParallelMaintenanceWorkers: number;
}

/**
 * From 4 CPUs, pgtune's: one worker per CPU, and half the CPUs (at most 4: more workers per query show
 * no clear gain on a web workload) per query and per maintenance command.
 * Below 4 CPUs pgtune writes nothing, which leaves PostgreSQL's defaults (8 workers, 2 per query) on a
 * container that has 1 to 3 CPUs; each worker is a backend with its own work_mem, which the memory
 * budget counts. So there we apply the same formulas to the CPUs there are, except
 * max_worker_processes: it stays at 8 (pgtune's value there too), a pool also shared with other
 * background workers, and it is the setting a hot standby checks.
 * A user's maxWorkerProcesses bounds the others: a parallel worker is taken from that pool.
 */
export function parallelSettings(cpus: number, maxWorkerProcessesProp?: number): ParallelSettings {
  const maxWorkerProcesses = maxWorkerProcessesProp ?? (cpus >= PGTUNE_PARALLEL_MIN_CPUS ? cpus : PG_DEFAULT_MAX_WORKER_PROCESSES);
  const maxParallelWorkers = Math.min(cpus, maxWorkerProcesses);
  const perOperation = Math.min(Math.ceil(cpus / 2), PGTUNE_MAX_WORKERS_PER_OPERATION, maxParallelWorkers);
  return { maxWorkerProcesses, maxParallelWorkers, maxParallelWorkersPerGather: perOperation, maxParallelMaintenanceWorkers: perOperation };
}

/**
 * pgtune's work_mem: what RAM leaves beside shared_buffers, shared by every connection and worker
 * process, three times over (a query can sort or hash several times at once), and at least 4 MB
 * (PostgreSQL's default) so that simple sorts stay in memory. pgtune divides by max_worker_processes,
 * not max_parallel_workers; so do we.
 */
export function pgtuneWorkMemKiB(memoryKiB: number, sharedKiB: number, maxConnections: number, maxWorkerProcesses: number): number {
  const kb = Math.floor((memoryKiB - sharedKiB) / ((maxConnections + maxWorkerProcesses) * 3));
  return Math.max(kb, 4 * KB_PER_MB);
}

/** Every pgtune setting for `input`, with the deviations listed at the top of this file. */
export function pgtune(input: PgtuneInput): PgtuneSettings {
  const memoryKiB = input.memoryMiB * KB_PER_MB;
  const shared = input.sharedBuffersKiB ?? sharedBuffersKiB(memoryKiB);
  const maintenance = maintenanceWorkMemKiB(memoryKiB);
  const parallel = parallelSettings(input.cpus, input.maxWorkerProcesses);
  return {
    input,
    sharedBuffersKiB: shared,
    effectiveCacheSizeKiB: effectiveCacheSizeKiB(memoryKiB),
    maintenanceWorkMemKiB: maintenance,
    autovacuumWorkMemKiB: autovacuumWorkMemKiB(maintenance),
    workMemKiB: pgtuneWorkMemKiB(memoryKiB, shared, input.maxConnections, parallel.maxWorkerProcesses),
    walBuffersKiB: walBuffersKiB(shared),
    // A web workload writes steadily: 4 GB of WAL between checkpoints, 1 GB kept for bursts.
    minWalSizeKiB: 1 * KB_PER_GB,
    maxWalSizeKiB: 4 * KB_PER_GB,
    // Spread a checkpoint's writes over 90% of the interval (PostgreSQL's default since 14).
    checkpointCompletionTarget: 0.9,
    defaultStatisticsTarget: 100,
    randomPageCost: randomPageCost(input.storage),
    effectiveIoConcurrency: effectiveIoConcurrency(input.storage),
    hugePages: hugePages(shared),
    // Short web queries pay JIT's compile time and never win it back.
    jit: "off",
    // Full-page images in the WAL compress well; lz4 costs little CPU (PostgreSQL 15 builds of Debian and
    // the postgres image have it).
    walCompression: "lz4",
    ...parallel,
  };
}
