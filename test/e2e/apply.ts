/**
 * Apply and destroy with the provider's semantics: every attribute must be one provider-schema.ts
 * knows, every template must evaluate (template-eval.ts), images must already be on the engine (no
 * registry here). A failed apply destroys what it created, so a broken stack never lingers for the
 * next test file.
 */
import { randomBytes } from "node:crypto";
import { call, request, tar } from "./docker-api";
import { inspect, logs, sleep } from "./observe";
import { failedPostcondition, parseLifecycle, type Postcondition } from "./lifecycle";
import { applySwarm, destroySwarm, type SwarmObjects } from "./apply-swarm";
import { removeCgroupParents } from "./cgroup-parents";
import { checkSchema, containerSpec } from "./provider-schema";
import { fmtProblem, renderResource, renderTemplate, templateProblems, type Refs, type TemplateProblem } from "./template-eval";
import { labelsMap, list, readTfJson, type Block, type TfDoc } from "./tf-json";

/** Label added to everything the applier creates, so a crashed run can be cleaned up. */
export const E2E_LABEL = "webstack.e2e";

export interface AppliedContainer {
  /** Resource name in the JSON, e.g. container-db-primary. */
  resource: string;
  name: string;
  id: string;
  startedAt: number;
  /** must_run = false: it runs to its end (a release step); healthy means exited 0. */
  oneShot: boolean;
  /** The provider's exit_code after the create: set once the container is not running, else null. */
  exitCode: number | null;
}

export interface Handle {
  tfJsonPath: string;
  containers: AppliedContainer[];
  volumes: string[];
  networks: string[];
  templateProblems: TemplateProblem[];
  /** Where the deployment knowingly differs from the JSON (options such as ulimitCap). */
  deviations: string[];
  /** Milliseconds from the start of apply to the last container started. */
  applyMs: number;
  startedAt: number;
  /** On a swarm manager: the services, configs and secrets created (apply-swarm.ts). */
  swarm?: SwarmObjects;
}

export interface ApplyOptions {
  /** Keep unknown `${...}` / `%{...}` literally instead of failing (they are still listed in the handle). */
  lenientTemplates?: boolean;
  /** Remove leftovers of an earlier run with the same names (only objects carrying the e2e label). */
  replaceLeftovers?: boolean;
  /**
   * Clamp ulimit soft/hard to this value (a deviation, recorded in handle.deviations). Needed where
   * dockerd's own hard limit is lower than what the JSON asks and cannot be raised (no CAP_SYS_RESOURCE):
   * runc then fails with "error setting rlimit type 7: operation not permitted".
   */
  ulimitCap?: number;
}

/** Containers in dependency order (depends_on), stable by name otherwise; fails on cycles/unknown deps. */
function orderContainers(cs: Record<string, Block>): string[] {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: string[] = [];
  const visit = (n: string, from?: string) => {
    if (done.has(n)) return;
    if (!cs[n]) throw new Error(`depends_on of ${from} names docker_container.${n}, which is not in the stack`);
    if (visiting.has(n)) throw new Error(`depends_on cycle through docker_container.${n}`);
    visiting.add(n);
    for (const d of list<string>(cs[n].depends_on)) {
      const m = /^(\w+)\.([A-Za-z0-9_-]+)$/.exec(d);
      if (!m) throw new Error(`docker_container.${n}: depends_on entry "${d}" is not TYPE.NAME`);
      if (m[1] === "docker_container") visit(m[2], n);
      // Networks, volumes and images are always created before any container.
    }
    visiting.delete(n);
    done.add(n);
    order.push(n);
  };
  for (const n of Object.keys(cs).sort()) visit(n);
  return order;
}

async function removeLeftovers(doc: TfDoc, refsVars: Record<string, string>): Promise<void> {
  const names = (type: string) => Object.values(doc.resource?.[type] ?? {}).map((r) => renderTemplate(String(r.name), { vars: refsVars, networks: {}, images: {}, volumes: {} }, () => {}));
  for (const n of names("docker_container")) {
    const info = await request("GET", `/containers/${encodeURIComponent(n)}/json`);
    if (info.status === 200) {
      const labels = (JSON.parse(info.body.toString()) as { Config: { Labels: Record<string, string> } }).Config.Labels ?? {};
      if (labels[E2E_LABEL] !== "1") throw new Error(`container ${n} exists and was not made by the e2e applier; refusing to remove it`);
      await call("DELETE", `/containers/${encodeURIComponent(n)}?force=1`, undefined, { allow: [404] });
    }
  }
  for (const n of names("docker_volume")) await call("DELETE", `/volumes/${encodeURIComponent(n)}`, undefined, { allow: [404] });
  for (const n of names("docker_network")) await call("DELETE", `/networks/${encodeURIComponent(n)}`, undefined, { allow: [404] });
}

/** The value of each declared variable: given, else its default; refuses missing, undeclared and invalid ones. */
function resolveVariables(doc: TfDoc, variables: Record<string, string>): Record<string, string> {
  const declared = Object.keys(doc.variable ?? {});
  const missing = declared.filter((v) => variables[v] === undefined && (doc.variable![v].default === undefined));
  if (missing.length) throw new Error(`no value for variable(s): ${missing.join(", ")}`);
  const extra = Object.keys(variables).filter((v) => !declared.includes(v));
  if (extra.length) throw new Error(`values given for undeclared variable(s): ${extra.join(", ")}`);
  const vars: Record<string, string> = {};
  for (const v of declared) vars[v] = variables[v] ?? String(doc.variable![v].default);
  for (const [v, decl] of Object.entries(doc.variable ?? {})) {
    for (const val of list(decl.validation)) {
      const m = /^\$\{can\(regex\("(.*)", var\.[\w-]+\)\)\}$/.exec(String(val.condition));
      if (m && !new RegExp(JSON.parse(`"${m[1]}"`) as string).test(vars[v])) throw new Error(`variable ${v}: ${val.error_message}`);
    }
  }
  return vars;
}

/**
 * Creates every network, volume, image check and container of the cdk.tf.json. On any failure,
 * whatever was created is destroyed again and the error (with the daemon's message) is thrown.
 */
export async function apply(tfJsonPath: string, variables: Record<string, string>, options: ApplyOptions = {}): Promise<Handle> {
  const t0 = Date.now();
  const doc = readTfJson(tfJsonPath);
  const res = doc.resource ?? {};

  // 1. Attributes: everything must be handled.
  const schemaErrors: string[] = [];
  const postconditions: Record<string, Postcondition[]> = {};
  for (const [type, rs] of Object.entries(res)) {
    for (const [name, r] of Object.entries(rs)) {
      schemaErrors.push(...checkSchema(type, name, r));
      const lifecycle = parseLifecycle(type, name, r.lifecycle);
      schemaErrors.push(...lifecycle.errors);
      if (type === "docker_container") postconditions[name] = lifecycle.postconditions;
    }
  }
  if (schemaErrors.length) throw new Error(`cdk.tf.json has attributes the e2e applier does not handle:\n  ${schemaErrors.join("\n  ")}`);

  // 2. Variables.
  const vars = resolveVariables(doc, variables);

  const refs: Refs = { vars, networks: {}, images: {}, volumes: {} };
  const problems: TemplateProblem[] = [];
  const render = (type: string, name: string, r: Block): Block => renderResource(type, name, r, refs, problems);

  if (!options.lenientTemplates) {
    const bad = templateProblems(tfJsonPath);
    if (bad.length) throw new Error(`Terraform would reject this cdk.tf.json (invalid templates):\n  ${bad.map(fmtProblem).join("\n  ")}`);
  }
  if (options.replaceLeftovers) await removeLeftovers(doc, vars);

  const handle: Handle = { tfJsonPath, containers: [], volumes: [], networks: [], templateProblems: problems, deviations: [], applyMs: 0, startedAt: t0 };
  const e2eLabels = { [E2E_LABEL]: "1" };
  try {
    // 3. Images: must exist locally (no registry); image_id is the local image id.
    for (const [name, raw] of Object.entries(res.docker_image ?? {})) {
      const r = render("docker_image", name, raw);
      const info = await request("GET", `/images/${encodeURIComponent(String(r.name))}/json`);
      if (info.status !== 200) throw new Error(`docker_image.${name}: image ${r.name} is not on the engine (ensureImages first): ${info.body.toString().trim()}`);
      refs.images[name] = (JSON.parse(info.body.toString()) as { Id: string }).Id;
    }
    // 4. Networks.
    for (const [name, raw] of Object.entries(res.docker_network ?? {})) {
      const r = render("docker_network", name, raw);
      const ipam = list(r.ipam_config).map((c) => ({
        ...(c.subnet ? { Subnet: String(c.subnet) } : {}),
        ...(c.gateway ? { Gateway: String(c.gateway) } : {}),
        ...(c.ip_range ? { IPRange: String(c.ip_range) } : {}),
        ...(c.aux_address ? { AuxiliaryAddresses: c.aux_address } : {}),
      }));
      const created = await call<{ Id: string }>("POST", "/networks/create", {
        Name: String(r.name),
        CheckDuplicate: true,
        Driver: String(r.driver ?? "bridge"),
        Internal: r.internal === true,
        Attachable: r.attachable === true,
        Options: r.options ?? {},
        IPAM: { Driver: "default", Config: ipam },
        Labels: { ...labelsMap(r.labels), ...e2eLabels },
      });
      handle.networks.push(created.Id);
      refs.networks[name] = String(r.name);
    }
    // 5. Volumes.
    for (const [name, raw] of Object.entries(res.docker_volume ?? {})) {
      const r = render("docker_volume", name, raw);
      await call("POST", "/volumes/create", {
        Name: String(r.name),
        Driver: String(r.driver ?? "local"),
        DriverOpts: r.driver_opts ?? {},
        Labels: { ...labelsMap(r.labels), ...e2eLabels },
      });
      handle.volumes.push(String(r.name));
      refs.volumes[name] = String(r.name);
    }
    // 6. Containers, in depends_on order: create, upload, start, must_run check.
    const cs = res.docker_container ?? {};
    for (const name of orderContainers(cs)) await applyContainer(name, render("docker_container", name, cs[name]), handle, options, e2eLabels, postconditions[name] ?? []);
    // 7. Swarm: configs, secrets, then services (each converged before its dependents).
    if (res.docker_service || res.docker_config || res.docker_secret) {
      handle.swarm = { services: [], configs: [], secrets: [] };
      await applySwarm(res, render, refs, handle.swarm, e2eLabels);
    }
  } catch (e) {
    await destroy(handle).catch(() => undefined);
    throw e;
  }
  handle.applyMs = Date.now() - t0;
  return handle;
}

/**
 * Creates one rendered container, uploads its files, starts it, waits for its end when `attach`,
 * checks must_run, then its postconditions (as Terraform does right after the provider's create).
 */
async function applyContainer(name: string, r: Block, handle: Handle, options: ApplyOptions, e2eLabels: Record<string, string>, postconditions: Postcondition[]): Promise<void> {
  const cname = String(r.name);
  const { body, extraNetworks } = containerSpec(r, e2eLabels);
  const ul = (body.HostConfig as { Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> }).Ulimits ?? [];
  for (const u of ul) {
    if (options.ulimitCap !== undefined && (u.Hard > options.ulimitCap || u.Soft > options.ulimitCap)) {
      handle.deviations.push(`${cname}: ulimit ${u.Name} ${u.Soft}/${u.Hard} clamped to ${options.ulimitCap}`);
      u.Soft = Math.min(u.Soft, options.ulimitCap);
      u.Hard = Math.min(u.Hard, options.ulimitCap);
    }
  }
  let created: { Id: string };
  try {
    created = await call<{ Id: string }>("POST", `/containers/create?name=${encodeURIComponent(cname)}`, body);
  } catch (e) {
    throw new Error(`docker_container.${name} (${cname}): create failed: ${(e as Error).message}`);
  }
  const applied: AppliedContainer = { resource: name, name: cname, id: created.Id, startedAt: 0, oneShot: r.must_run === false, exitCode: null };
  handle.containers.push(applied);
  for (const n of extraNetworks) await call("POST", `/networks/${encodeURIComponent(n.name)}/connect`, { Container: created.Id, EndpointConfig: n.cfg });
  const uploads = list(r.upload).map((u) => ({ path: String(u.file), content: String(u.content ?? ""), mode: u.executable === true ? 0o755 : 0o644 }));
  if (uploads.length) {
    try {
      await call("PUT", `/containers/${created.Id}/archive?path=/`, undefined, { raw: tar(uploads) });
    } catch (e) {
      throw new Error(`docker_container.${name} (${cname}): upload failed: ${(e as Error).message}`);
    }
  }
  try {
    await call("POST", `/containers/${created.Id}/start`);
  } catch (e) {
    throw new Error(`docker_container.${name} (${cname}): start failed: ${(e as Error).message}`);
  }
  applied.startedAt = Date.now();
  if (r.attach === true) {
    // The provider waits for the end of its execution (ContainerWait, condition not-running), however long.
    await call("POST", `/containers/${created.Id}/wait?condition=not-running`, undefined, { timeoutMs: ATTACH_TIMEOUT_MS });
  }
  if (r.must_run !== false) {
    // The provider checks the container is running right after start.
    if (r.attach !== true) await sleep(500);
    const st = await inspect(created.Id);
    if (!st.State.Running) {
      throw new Error(`docker_container.${name} (${cname}): must_run but not running (exit ${st.State.ExitCode}, ${st.State.Error || "no error"}); logs:\n${(await logs(created.Id, 60)).combined}`);
    }
  }
  const st = await inspect(created.Id);
  applied.exitCode = st.State.Running ? null : st.State.ExitCode;
  const failed = failedPostcondition(`docker_container.${name}`, postconditions, { exit_code: applied.exitCode });
  // Not in Terraform's message: the log tail, since the applier destroys the container before anyone could look.
  if (failed) throw new Error(`${failed}\n  log tail of ${cname}:\n${(await logs(created.Id, 40)).combined.replace(/^/gm, "    ")}`);
}

/** How long an attached container may run: the provider's default create timeout (20 minutes). */
const ATTACH_TIMEOUT_MS = 20 * 60_000;

/** Removes the containers (force), then volumes, then networks the handle created. Keeps images (cache). */
export async function destroy(handle: Handle): Promise<void> {
  const errors: string[] = [];
  if (handle.swarm) errors.push(...(await destroySwarm(handle.swarm)));
  for (const c of [...handle.containers].reverse()) {
    await call("DELETE", `/containers/${c.id}?force=1&v=1`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  }
  for (const v of handle.volumes) await call("DELETE", `/volumes/${encodeURIComponent(v)}?force=1`, undefined, { allow: [404] }).catch((e: Error) => errors.push(e.message));
  for (const n of handle.networks) {
    // An overlay network stays in use for a moment after the services' tasks are gone.
    for (let attempt = 0; ; attempt++) {
      const failed = await call("DELETE", `/networks/${n}`, undefined, { allow: [404] }).then(() => undefined, (e: Error) => e);
      if (!failed) break;
      if (!handle.swarm || attempt >= 30) {
        errors.push(failed.message);
        break;
      }
      await sleep(1000);
    }
  }
  errors.push(...removeCgroupParents(handle.tfJsonPath));
  handle.containers = [];
  handle.volumes = [];
  handle.networks = [];
  if (errors.length) throw new Error(`destroy: ${errors.join("; ")}`);
}

/** A random value of 24 characters of [A-Za-z0-9_-] for each declared variable. */
export function generateVariables(tfJsonPath: string): Record<string, string> {
  const doc = readTfJson(tfJsonPath);
  return Object.fromEntries(Object.keys(doc.variable ?? {}).map((v) => [v, randomBytes(18).toString("base64url")]));
}
