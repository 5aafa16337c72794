/** Network rules: container names, addresses and host ports are unique, and every address fits the subnet. */
import { addressBlocks, componentSlots } from "../../layout";
import { HOSTS_PER_BLOCK, addressesIn, componentBlocks } from "../../network";
import { componentsOf, type Topology } from "../../topology";
import type { Rule } from "../rule";

/** Every value seen before, in order (a Set: a tier of thousands of containers stays linear). */
function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return values.filter((v) => seen.size === seen.add(v).size);
}

/** Host ports the load balancers publish, as `address:port`. */
function publishedPorts(t: Topology): string[] {
  return componentsOf(t, "loadBalancer").flatMap((lb) => [
    `${lb.settings.bindAddress}:${lb.settings.httpPort}`,
    ...(lb.settings.https ? [`${lb.settings.bindAddress}:${lb.settings.https.port}`] : []),
  ]).concat(componentsOf(t, "monitoring").flatMap((m) => (m.settings.publish ? [`${m.settings.publish.bindAddress}:${m.settings.publish.port}`] : [])));
}

export const NET_COLLISIONS: Rule = {
  id: "WS-NET-COLLISIONS",
  title: "Names, addresses and host ports are unique, and addresses fit the subnet",
  severity: "error",
  rationale: "Docker refuses a second container with the same name or address, and a second listener on the same host port.",
  measure: (t) => {
    const blocks = addressBlocks(t);
    const available = componentBlocks(t.settings.subnet);
    const perComponent = t.components.map((c) => ({ c, slots: componentSlots(c, t) }));
    const names = duplicates(perComponent.flatMap(({ slots }) => slots.map((s) => `${t.prefix}-${s.key}`)));
    const ports = duplicates(publishedPorts(t));
    const crowded = perComponent.filter(({ slots }) => slots.length > HOSTS_PER_BLOCK);
    const tooMany = Math.max(0, t.components.length - available);
    // Each component has a block of its own and its slots distinct indexes in it, so addresses can only
    // collide when a block overflows or the blocks run out; only then are they all worked out.
    const address = addressesIn(t.settings.subnet);
    const addresses =
      crowded.length > 0 || tooMany > 0 ? duplicates(perComponent.flatMap(({ c, slots }) => slots.map((s) => address(blocks.get(c.path)!, s.index)))) : [];
    const used = names.length + addresses.length + ports.length + crowded.length + tooMany;
    return [
      {
        constructPath: t.stackPath,
        subject: "names, addresses and host ports",
        used,
        limit: 0,
        unit: "collisions",
        lines: [
          `duplicate container names: ${names.length ? names.join(", ") : "none"}`,
          `duplicate addresses: ${addresses.length ? addresses.join(", ") : "none"}`,
          `duplicate host ports: ${ports.length ? ports.join(", ") : "none"}`,
          `components ${t.components.length} in ${available} address blocks of subnet ${t.settings.subnet}`,
          ...crowded.map(({ c, slots }) => `${c.path}: ${slots.length} containers > ${HOSTS_PER_BLOCK} addresses in its block`),
        ],
        fix: "give each load balancer its own httpPort, use a larger subnet (smaller prefix), or split a tier of more than 245 containers",
      },
    ];
  },
};
