/**
 * The topology model: what the constructs describe, with defaults resolved and references resolved
 * once to the component models they name. Everything below (renderers, the cluster plan, the budget
 * rules) reads this model and nothing else, so the core never sees a cdktf object.
 */
import type {
  CacheSettings,
  DatabaseSettings,
  LoadBalancerSettings,
  MonitoringSettings,
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
  readonly target: WebTierModel;
  /** `app` routes reach the app server; `static` routes are served by nginx alone. */
  readonly serves: "app" | "static";
  /** Web tier whose nodes are `backup` servers of this backend. */
  readonly backup?: WebTierModel;
  /** Per-server `maxconn` override. Default: what the target node can serve at once. */
  readonly maxconnPerServer?: number;
  /** Largest request body the route must accept (nginx-style size), checked against the target tier. */
  readonly maxBodySize?: string;
  /** This backend's own health check; unset fields follow the load balancer's. */
  readonly healthCheck?: { readonly path?: string; readonly host?: string; readonly interMs?: number };
}

export interface LoadBalancerModel extends ComponentBase {
  readonly kind: "loadBalancer";
  readonly settings: LoadBalancerSettings;
  readonly routes: readonly LoadBalancerRoute[];
  /**
   * The certificate and chain (PEM) read from `https.certificateFile`, checked to hold no private
   * key (that comes from a sensitive variable), or the placeholder of `https.certificateVariable`.
   */
  readonly certificatePem?: string;
}

/** The services a tier's processes connect to. */
export interface Wiring {
  readonly database?: DatabaseModel;
  readonly cache?: CacheModel;
  readonly queue?: QueueModel;
  readonly search?: SearchClusterModel;
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

/** Prometheus and the exporters of every other component of the stack (at most one per stack). */
export interface MonitoringModel extends ComponentBase {
  readonly kind: "monitoring";
  readonly settings: MonitoringSettings;
}

export type ComponentModel =
  | LoadBalancerModel
  | WebTierModel
  | WorkerTierModel
  | DatabaseModel
  | CacheModel
  | QueueModel
  | SearchClusterModel
  | MonitoringModel;

export type ComponentKind = ComponentModel["kind"];
export type ModelOf<K extends ComponentKind> = Extract<ComponentModel, { kind: K }>;

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

export function componentsOf<K extends ComponentKind>(topology: Topology, kind: K): ModelOf<K>[] {
  return topology.components.filter((c): c is ModelOf<K> => c.kind === kind);
}

/**
 * The same topology with each component's settings passed through `settingsFor`, and every
 * reference pointing at the new models, so no reader sees a stale copy of a referenced component.
 * The capacity probes turn one knob this way; the result shares nothing mutable with the input.
 */
export function mapSettings(topology: Topology, settingsFor: (c: ComponentModel) => ComponentModel["settings"]): Topology {
  const next = new Map<string, ComponentModel>();
  for (const c of topology.components) next.set(c.path, { ...c, settings: settingsFor(c) } as ComponentModel);
  const ref = <M extends ComponentModel>(m: M | undefined): M | undefined => (m ? (next.get(m.path) as M) : undefined);
  const relinked = topology.components.map((old): ComponentModel => {
    const c = next.get(old.path)!;
    switch (c.kind) {
      case "webTier":
      case "workerTier":
        return Object.assign(c, { database: ref(c.database), cache: ref(c.cache), queue: ref(c.queue), search: ref(c.search) });
      case "loadBalancer":
        return Object.assign(c, { routes: c.routes.map((r) => ({ ...r, target: ref(r.target)!, backup: ref(r.backup) })) });
      default:
        return c;
    }
  });
  return { ...topology, components: relinked };
}

/** `mapSettings` for one knob: `patch` merged into the settings of the component at `path`. */
export function withSettings(topology: Topology, path: string, patch: Readonly<Record<string, unknown>>): Topology {
  return mapSettings(topology, (c) => (c.path === path ? ({ ...c.settings, ...patch } as ComponentModel["settings"]) : c.settings));
}
