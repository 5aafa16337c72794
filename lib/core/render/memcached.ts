/** memcached takes its settings as arguments; this renders that argument list. */

export const MEMCACHED_PORT = 11211;

export interface MemcachedConfig {
  readonly itemMemoryMiB: number;
  readonly maxConnections: number;
  readonly threads: number;
}

export function memcachedCommand(c: MemcachedConfig): string[] {
  return [
    "memcached",
    `--memory-limit=${c.itemMemoryMiB}`,
    `--conn-limit=${c.maxConnections}`,
    `--threads=${c.threads}`,
    `--port=${MEMCACHED_PORT}`,
    "--listen=0.0.0.0",
    // UDP off: amplification attacks, and no client of ours uses it.
    "--udp-port=0",
  ];
}
