/**
 * What `cdktf-webstack measure` deploys for one web tier: its first node (app server and nginx,
 * with their real rendered files) and every member of the services that node uses (the database
 * with its standbys, the cache, the broker), from the same plan; no load balancer, no other node.
 * Load goes straight to that node's nginx.
 */
import { appRoutesTo, backendHealthCheck } from "./derive";
import { webNodeSlots } from "./layout";
import type { ClusterPlan, ContainerSpec, VolumeSpec } from "./model";
import { secretsIn, type SecretSpec } from "./secrets";
import { componentsOf, type Topology, type WebTierModel } from "./topology";

export interface MeasureSubset {
  readonly tier: string;
  readonly server: "uwsgi" | "gunicorn";
  readonly processes: number;
  readonly threads: number;
  readonly latencyObjectiveMs: number;
  readonly image: string;
  readonly network: ClusterPlan["network"];
  /** In start order: each after the containers it depends on. */
  readonly containers: readonly ContainerSpec[];
  readonly volumes: readonly VolumeSpec[];
  readonly secrets: readonly SecretSpec[];
  /** The node's nginx, where the load goes, and its app server, whose processes are measured. */
  readonly nginx: { readonly key: string; readonly address: string; readonly port: number };
  readonly app: { readonly key: string };
  /** Host header: the one the load balancer's health check sends (the site's host name). */
  readonly host: string;
  /** The health path, the default request mix beside "/". */
  readonly healthPath: string;
}

/** The subset for the web tier of that construct path (or id), or undefined when the topology has none. */
export function measureSubset(t: Topology, plan: ClusterPlan, tierPathOrId: string): MeasureSubset | undefined {
  const tier = componentsOf(t, "webTier").find((w) => w.path === tierPathOrId || w.id === tierPathOrId);
  if (!tier) return undefined;
  const slots = webNodeSlots(tier, 0);
  const byKey = new Map(plan.containers.map((c) => [c.key, c]));
  const ordered: ContainerSpec[] = [];
  const visit = (key: string) => {
    const c = byKey.get(key);
    if (!c || ordered.includes(c)) return;
    c.dependsOn.forEach(visit);
    ordered.push(c);
  };
  visit(slots.nginx.key);
  // Whole services, not only the members the node names: a synchronous standby confirms the
  // primary's commits, so the measured latency needs it too.
  const services = new Set(ordered.map((c) => c.constructPath).filter((p) => p !== tier.path));
  plan.containers.filter((c) => services.has(c.constructPath)).forEach((c) => visit(c.key));
  const nginx = byKey.get(slots.nginx.key)!;
  const volumeKeys = new Set(ordered.flatMap((c) => c.mounts.map((m) => m.volume)));
  const secretNames = new Set(ordered.flatMap((c) => [...Object.values(c.env), ...c.files.map((f) => f.content)].flatMap(secretsIn)));
  const { host, path } = healthOf(t, tier);
  return {
    tier: tier.path,
    server: tier.settings.server,
    processes: tier.settings.processes,
    threads: tier.settings.threads,
    latencyObjectiveMs: tier.settings.latencyObjectiveMs,
    image: tier.settings.image,
    network: plan.network,
    containers: ordered,
    volumes: plan.volumes.filter((v) => volumeKeys.has(v.key)),
    secrets: plan.secrets.filter((s) => secretNames.has(s.name)),
    nginx: { key: nginx.key, address: nginx.address, port: nginx.listens[0].port },
    app: { key: slots.app.key },
    host,
    healthPath: path,
  };
}

function healthOf(t: Topology, tier: WebTierModel): { host: string; path: string } {
  const first = appRoutesTo(t, tier)[0];
  if (!first) return { host: "localhost", path: "/ping" };
  const h = backendHealthCheck(first.lb, first.route);
  return { host: h.host, path: h.path };
}
