/**
 * The swarm part of the applier: docker_config, docker_secret and docker_service on an engine that is
 * a swarm manager, with the provider's semantics: configs and secrets are created first (their data
 * base64, as the provider decodes it), services in depends_on order, and each service's create waits
 * for convergence (converge_config: after `delay`, until as many tasks run as replicas, a task with a
 * health check counting once it is healthy, else fails at `timeout` with the tasks' errors) before
 * anything that depends on it is created, as Terraform waits for the provider's create.
 */
import { call } from "./docker-api";
import { sleep } from "./observe";
import { convergence, serviceSpec, wantedReplicas } from "./service-schema";
import type { Refs } from "./template-eval";
import { labelsMap, list, type Block } from "./tf-json";

export interface SwarmObjects {
  services: Array<{ resource: string; name: string; id: string }>;
  configs: string[];
  secrets: string[];
}

interface Task {
  ID: string;
  Slot?: number;
  NodeID: string;
  DesiredState: string;
  Status: { State: string; Err?: string; Message?: string };
}

/** Tasks of a service, optionally only those desired running. */
export async function serviceTasks(serviceId: string, desiredRunning = true): Promise<Task[]> {
  const filters = JSON.stringify({ service: [serviceId], ...(desiredRunning ? { "desired-state": ["running"] } : {}) });
  return call<Task[]>("GET", `/tasks?filters=${encodeURIComponent(filters)}`);
}

/** Services in depends_on order (other types are created before any service). */
function orderServices(ss: Record<string, Block>): string[] {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: string[] = [];
  const visit = (n: string, from?: string) => {
    if (done.has(n)) return;
    if (!ss[n]) throw new Error(`depends_on of ${from} names docker_service.${n}, which is not in the stack`);
    if (visiting.has(n)) throw new Error(`depends_on cycle through docker_service.${n}`);
    visiting.add(n);
    for (const d of list<string>(ss[n].depends_on)) {
      const m = /^(\w+)\.([A-Za-z0-9_-]+)$/.exec(d);
      if (!m) throw new Error(`docker_service.${n}: depends_on entry "${d}" is not TYPE.NAME`);
      if (m[1] === "docker_service") visit(m[2], n);
    }
    visiting.delete(n);
    done.add(n);
    order.push(n);
  };
  for (const n of Object.keys(ss).sort()) visit(n);
  return order;
}

/** Waits as the provider's converge_config does; throws with the tasks' states and errors on timeout. */
async function converge(resource: string, r: Block, id: string): Promise<void> {
  const c = convergence(r);
  if (!c) return;
  await sleep(c.delayMs);
  const wanted = wantedReplicas(r);
  const deadline = Date.now() + c.timeoutMs;
  let tasks: Task[] = [];
  while (Date.now() < deadline) {
    tasks = await serviceTasks(id);
    if (tasks.filter((t) => t.Status.State === "running").length >= wanted) return;
    await sleep(1000);
  }
  const all = await serviceTasks(id, false);
  const states = all.map((t) => `slot ${t.Slot ?? "-"} on ${t.NodeID.slice(0, 12)}: ${t.Status.State} (desired ${t.DesiredState})${t.Status.Err ? `: ${t.Status.Err}` : ""}`);
  throw new Error(`docker_service.${resource}: did not converge in ${c.timeoutMs} ms (${wanted} replicas wanted); tasks:\n  ${states.join("\n  ")}`);
}

/** Creates the configs, secrets and services of the JSON; what it created is recorded in `made` as it goes. */
export async function applySwarm(
  res: Record<string, Record<string, Block>>,
  render: (type: string, name: string, r: Block) => Block,
  refs: Refs,
  made: SwarmObjects,
  e2eLabels: Record<string, string>,
): Promise<void> {
  refs.configs ??= {};
  refs.secrets ??= {};
  for (const [type, into, path] of [["docker_config", refs.configs, "configs"], ["docker_secret", refs.secrets, "secrets"]] as const) {
    for (const [name, raw] of Object.entries(res[type] ?? {})) {
      const r = render(type, name, raw);
      const data = String(r.data);
      // The provider refuses data that is not base64 (validateStringIsBase64Encoded) and sends it as is.
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new Error(`${type}.${name}: data is not base64`);
      const created = await call<{ ID: string }>("POST", `/${path}/create`, { Name: String(r.name), Data: data, Labels: { ...labelsMap(r.labels), ...e2eLabels } });
      into[name] = { id: created.ID, name: String(r.name) };
      made[path].push(created.ID);
    }
  }
  const services = res.docker_service ?? {};
  for (const name of orderServices(services)) {
    const r = render("docker_service", name, services[name]);
    let created: { ID: string };
    try {
      created = await call<{ ID: string }>("POST", "/services/create", serviceSpec(r, e2eLabels));
    } catch (e) {
      throw new Error(`docker_service.${name} (${String(r.name)}): create failed: ${(e as Error).message}`);
    }
    made.services.push({ resource: name, name: String(r.name), id: created.ID });
    await converge(name, r, created.ID);
  }
}

/**
 * Removes the services, waits until their tasks are gone (a config or secret in use cannot be
 * removed), then the configs and secrets. Volumes the tasks made stay on each node, as the
 * provider leaves them: the swarm suite removes the nodes' data roots.
 */
export async function destroySwarm(made: SwarmObjects, timeoutMs = 120_000): Promise<string[]> {
  const errors: string[] = [];
  for (const s of [...made.services].reverse()) await call("DELETE", `/services/${s.id}`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  const deadline = Date.now() + timeoutMs;
  for (const [path, ids] of [["configs", made.configs], ["secrets", made.secrets]] as const) {
    for (const id of ids) {
      for (;;) {
        try {
          await call("DELETE", `/${path}/${id}`, undefined, { allow: [404] });
          break;
        } catch (e) {
          if (Date.now() > deadline) {
            errors.push((e as Error).message);
            break;
          }
          await sleep(1000);
        }
      }
    }
  }
  made.services = [];
  made.configs = [];
  made.secrets = [];
  return errors;
}
