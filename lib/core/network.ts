/**
 * Static addressing. The subnet is split into blocks of 256 addresses; block 0 holds the gateway
 * and each component gets the next block in construct order, so scaling one tier never moves
 * another tier's addresses (and never recreates its containers).
 */

export const FIRST_HOST = 10;
export const HOSTS_PER_BLOCK = 254 - FIRST_HOST + 1;

export function parseSubnet(subnet: string): { a: number; b: number; prefix: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.0\.0\/(\d+)$/.exec(subnet);
  if (!m) throw new Error(`not a supported subnet: ${subnet}`);
  return { a: Number(m[1]), b: Number(m[2]), prefix: Number(m[3]) };
}

/** Blocks available to components (block 0 is the gateway's). */
export function componentBlocks(subnet: string): number {
  return 2 ** (24 - parseSubnet(subnet).prefix) - 1;
}

export function gatewayAddress(subnet: string): string {
  const { a, b } = parseSubnet(subnet);
  return `${a}.${b}.0.1`;
}

/**
 * The address of the `index`-th container (0-based) of the component in `block` (1-based), for one
 * subnet, parsed once: the planner and the collision rule call it per container.
 */
export function addressesIn(subnet: string): (block: number, index: number) => string {
  const { a, b } = parseSubnet(subnet);
  return (block, index) => `${a}.${b + (block >> 8)}.${block & 255}.${FIRST_HOST + index}`;
}
