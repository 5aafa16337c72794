/**
 * Memory sizes. Props take mebibytes as plain numbers (`memoryMiB: 2048`) because a number can be
 * checked and summed; renderers then print each daemon's own unit syntax.
 */

export const MIB = 1024 * 1024;
export const GIB_IN_MIB = 1024;

/** `1536` -> `"1.5 GiB"`, `300` -> `"300 MiB"`: for reports and error messages. */
export function formatMiB(mib: number): string {
  if (mib >= GIB_IN_MIB && mib % 128 === 0) {
    const gib = mib / GIB_IN_MIB;
    return `${Number.isInteger(gib) ? gib : gib.toFixed(2).replace(/0+$/, "")} GiB`;
  }
  return `${Math.round(mib)} MiB`;
}

/** PostgreSQL memory setting: whole megabytes, or kilobytes below 1 MB (`"512MB"`, `"640kB"`). */
export function pgMemory(mib: number): string {
  if (mib >= 1 && Number.isInteger(mib)) return `${mib}MB`;
  return `${Math.max(64, Math.floor(mib * 1024))}kB`;
}

/** Integer percentage of `used` over `limit`, for "near the limit" warnings; null for a limit of 0 (no share to speak of). */
export function percent(used: number, limit: number): number | null {
  if (limit <= 0) return null;
  return Math.round((used / limit) * 100);
}

/** nginx-style size (`10m`, `50g`, `512k`, `1024`) to bytes. */
export function parseSize(size: string): number {
  const m = /^([0-9]+)([kmgKMG]?)$/.exec(size);
  if (!m) throw new Error(`not a size: ${size}`);
  const factor = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * factor;
}
