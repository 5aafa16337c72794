/**
 * The topology model: what the constructs describe, with defaults resolved and references turned
 * into construct paths. Everything below (renderers, the cluster plan, the budget rules) reads this
 * model and nothing else, so the core never sees a cdktf object.
 */
import type {
  CacheSettings,
  DatabaseSettings,
  LoadBalancerSettings,
  QueueSettings,
  SearchClusterSettings,
  StackSettings,
  WebTierSettings,
  WorkerTierSettings,
} from "./schemas";

interface ComponentBase {
  /** Construct id, unique in the stack; used in container names. */
  readonly id: string;
  /** Construct path, used in every message. */
  readonly path: string;
}

export interface LoadBalancerRoute {
  /** Backend name in haproxy.cfg. */
  readonly name: string;
  /** Path prefixes routed here; empty for the default backend. */
  readonly pathPrefixes: readonly string[];
  /** Web tier whose nginx nodes serve the route. */
  readonly target: string;
  /** `app` routes reach the app server; `static` routes are served by nginx alone. */
  readonly serves: "app" | "static";
  /** Web tier whose nodes are `backup` servers of this backend. */
  readonly backup?: string;
  /** Per-server `maxconn` override. Default: what the target node can serve at once. */
  readonly maxconnPerServer?: number;
  /** Largest request body the route must accept (nginx-style size), checked against the target tier. */
  readonly maxBodySize?: string;
}

export interface LoadBalancerModel extends ComponentBase {
  readonly kind: "loadBalancer";
  readonly settings: LoadBalancerSettings;
  readonly routes: readonly LoadBalancerRoute[];
  /** Certificate PEM content read from `https.certificateFile`, or a secret placeholder. */
  readonly certificatePem?: string;
}

export interface Wiring {
  readonly database?: string;
  readonly cache?: string;
  readonly queue?: string;
  readonly search?: string;
}

export interface WebTierModel extends ComponentBase, Wiring {
  readonly kind: "webTier";
  readonly settings: WebTierSettings;
}

export interface WorkerTierModel extends ComponentBase, Wiring {
  readonly kind: "workerTier";
  readonly settings: WorkerTierSettings;
}

export interface DatabaseModel extends ComponentBase {
  readonly kind: "database";
  readonly settings: DatabaseSettings;
}

export interface CacheModel extends ComponentBase {
  readonly kind: "cache";
  readonly settings: CacheSettings;
}

export interface QueueModel extends ComponentBase {
  readonly kind: "queue";
  readonly settings: QueueSettings;
}

export interface SearchClusterModel extends ComponentBase {
  readonly kind: "searchCluster";
  readonly settings: SearchClusterSettings;
}

export type ComponentModel =
  | LoadBalancerModel
  | WebTierModel
  | WorkerTierModel
  | DatabaseModel
  | CacheModel
  | QueueModel
  | SearchClusterModel;

/** A user's acknowledgement of one rule's finding on one construct. */
export interface Acknowledgement {
  readonly constructPath: string;
  readonly ruleId: string;
  readonly reason: string;
}

export interface Topology {
  readonly stackName: string;
  readonly stackPath: string;
  readonly settings: StackSettings;
  /** Name prefix of Docker objects. */
  readonly prefix: string;
  /** Components in construct-tree order; the order fixes address blocks and output order. */
  readonly components: readonly ComponentModel[];
  /** Acknowledged findings (deliberate overcommits), each with its reason. */
  readonly acknowledgements: readonly Acknowledgement[];
}

export function componentsOf<K extends ComponentModel["kind"]>(
  topology: Topology,
  kind: K,
): Extract<ComponentModel, { kind: K }>[] {
  return topology.components.filter((c): c is Extract<ComponentModel, { kind: K }> => c.kind === kind);
}

export function componentAt(topology: Topology, path: string): ComponentModel {
  const found = topology.components.find((c) => c.path === path);
  if (!found) throw new Error(`internal: no component at ${path}`);
  return found;
}
