/**
 * Props schemas for every construct: each validates its plain fields and fills the defaults that
 * follow no other field. Defaults that follow other fields (memory limits from processes, WAL
 * senders from replicas, heap from memory, images from the engine) are derived in derive.ts.
 * Construct references (`database: db`) are not here: they are typed in the construct layer.
 * Every field documents its default; `z.input` keeps those comments for the public props types.
 */
import type { z } from "zod";
import type { MeasuredRate } from "../measurement";
import type { databaseSchema } from "./database";
import type { loadBalancerSchema } from "./load-balancer";
import type { monitoringSchema } from "./monitoring";
import type { cacheSchema, queueSchema, searchClusterSchema } from "./services";
import type { stackSchema } from "./stack";
import type { webTierSchema } from "./web-tier";
import type { workerTierSchema } from "./worker-tier";

export { databaseSchema } from "./database";
export { healthCheckSchema, loadBalancerSchema, routeHealthCheckSchema } from "./load-balancer";
export { monitoringSchema } from "./monitoring";
export { cacheSchema, queueSchema, searchClusterSchema } from "./services";
export { stackSchema } from "./stack";
export { webTierSchema } from "./web-tier";
export { workerTierSchema } from "./worker-tier";

export type StackSettings = z.output<typeof stackSchema>;
export type LoadBalancerSettings = z.output<typeof loadBalancerSchema>;
export type WebTierSettings = z.output<typeof webTierSchema> & {
  /** What the `measurement` file gave, resolved at construction (see measurement.ts). */
  readonly measured?: MeasuredRate;
  /** Set when `nodes` was left unset and follows from `targetRps` and the measurement. */
  readonly nodesFromTarget?: boolean;
};
export type WorkerTierSettings = z.output<typeof workerTierSchema>;
export type DatabaseSettings = z.output<typeof databaseSchema>;
export type CacheSettings = z.output<typeof cacheSchema>;
export type QueueSettings = z.output<typeof queueSchema>;
export type SearchClusterSettings = z.output<typeof searchClusterSchema>;
export type MonitoringSettings = z.output<typeof monitoringSchema>;
