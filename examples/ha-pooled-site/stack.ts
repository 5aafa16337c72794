/**
 * examples/ha-site behind PgBouncer: the same three PostgreSQL members under Patroni and three etcd
 * members, the same web tier and load balancer, with the web tier's connections pooled. PgBouncer's
 * server connections go through the pooler's router (a TCP HAProxy checking Patroni's GET /primary),
 * so they follow the leader.
 */
import type { Construct } from "constructs";
import { Database, WebStack } from "../../lib";
import { addWebAndLoadBalancer } from "../small-site/stack";

export function buildHaPooledSiteStack(scope: Construct, id = "ha-pooled-site"): WebStack {
  const stack = new WebStack(scope, id, { subnet: "172.29.0.0/16" });
  // Each member counts both pools (it may lead or serve the reads): 2 x 12 + Patroni's 3 = 27 of 47.
  const db = new Database(stack, "db", {
    maxConnections: 50,
    replicas: 2,
    synchronousReplicas: 1,
    memoryMiB: 1024,
    failover: {},
    pooler: { defaultPoolSize: 10, reservePoolSize: 2 },
  });
  addWebAndLoadBalancer(stack, db);
  return stack;
}
