/**
 * The small site (the same web tier and load balancer) with automatic failover: three PostgreSQL members under Patroni, their leader lock
 * in a three-member etcd cluster, one synchronous standby. Losing the primary needs nobody at the
 * keyboard, and a returning old primary comes back as a standby.
 */
import type { Construct } from "constructs";
import { Database, WebStack } from "../../lib";
import { addWebAndLoadBalancer } from "../small-site/stack";

export function buildHaSiteStack(scope: Construct, id = "ha-site"): WebStack {
  const stack = new WebStack(scope, id, { subnet: "172.29.0.0/16" });
  // Two standbys: after losing the leader one is left to confirm commits, so writes stay synchronous.
  const db = new Database(stack, "db", { maxConnections: 50, replicas: 2, synchronousReplicas: 1, memoryMiB: 1024, failover: {} });
  addWebAndLoadBalancer(stack, db);
  return stack;
}
