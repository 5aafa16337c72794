/**
 * How the plan's containers become swarm services, without cdktf: the containers of one service
 * (its replicas) must be equal but for their key and name; secrets reach a task as files in
 * /run/secrets, and a start wrapper reads them into the environment the daemons expect, so no
 * secret value is in the service spec (`docker service inspect` shows only the file names).
 */
import type { ContainerSpec, FileSpec, HealthCheckSpec } from "../core/model";
import type { Placement } from "../core/placement";
import { secretsIn } from "../core/secrets";

/** Where a task finds the script that sets its secret-bearing environment variables. */
export const SWARM_ENV_SCRIPT = "/etc/webstack/swarm-env.sh";
/** Where Docker mounts a service's secrets. */
export const SECRETS_DIR = "/run/secrets";
const SOURCE_ENV = `set -a; . ${SWARM_ENV_SCRIPT}; set +a`;

export interface SwarmService {
  /** Service key (its Docker name without the stack prefix). */
  readonly service: string;
  /** The first replica: every other one is equal to it but for key and name. */
  readonly spec: ContainerSpec;
  readonly placement: Placement;
  readonly replicas: number;
  /** Services this one is created after. */
  readonly dependsOn: readonly string[];
}

const PLACEHOLDER = /@@secret:([a-z0-9_]+)@@/g;

/** `text` as one POSIX shell word: literal parts single-quoted, each secret read from its file. */
export function shellWordReadingSecrets(text: string): string {
  const parts: string[] = [];
  let last = 0;
  const literal = (s: string) => s && parts.push(`'${s.replace(/'/g, `'\\''`)}'`);
  for (const m of text.matchAll(PLACEHOLDER)) {
    literal(text.slice(last, m.index));
    parts.push(`"$(cat ${SECRETS_DIR}/${m[1]})"`);
    last = m.index! + m[0].length;
  }
  literal(text.slice(last));
  return parts.length > 0 ? parts.join("") : "''";
}

export interface SwarmEnvironment {
  /** Variables without secrets: in the service spec as they are. */
  readonly plain: Readonly<Record<string, string>>;
  /** The script setting the others from the secret files; undefined when there are none. */
  readonly script?: FileSpec;
  /** Secret (variable) names the task reads from /run/secrets. */
  readonly secrets: readonly string[];
  /** The command, behind a shell that sources the script when there is one. */
  readonly command: readonly string[];
  readonly healthcheck: HealthCheckSpec;
}

export function swarmEnvironment(c: ContainerSpec): SwarmEnvironment {
  const names = Object.keys(c.env).sort();
  const secretBearing = names.filter((k) => secretsIn(c.env[k]).length > 0);
  const plain = Object.fromEntries(names.filter((k) => !secretBearing.includes(k)).map((k) => [k, c.env[k]]));
  if (secretBearing.length === 0) return { plain, secrets: [], command: c.command, healthcheck: c.healthcheck };
  const secrets = [...new Set(secretBearing.flatMap((k) => secretsIn(c.env[k])))].sort();
  const script = [
    "# Rendered by cdktf-webstack for a swarm task: the environment variables that hold secrets, read from",
    `# the secret files Docker mounts in ${SECRETS_DIR}, so the service spec carries none.`,
    ...secretBearing.map((k) => `${k}=${shellWordReadingSecrets(c.env[k])}`),
    "",
  ].join("\n");
  // A shell health check runs outside the started process, so it sources the script too.
  const test = c.healthcheck.test;
  const healthcheck = test[0] === "CMD-SHELL" ? { ...c.healthcheck, test: ["CMD-SHELL", `${SOURCE_ENV}; ${test[1]}`] } : c.healthcheck;
  return {
    plain,
    script: { path: SWARM_ENV_SCRIPT, content: script, executable: false },
    secrets,
    command: ["/bin/sh", "-c", `${SOURCE_ENV}; exec "$@"`, "webstack-env", ...c.command],
    healthcheck,
  };
}

/** The containers of the plan grouped into services, in plan order; replicas that differ are refused. */
export function swarmServices(containers: readonly ContainerSpec[]): SwarmService[] {
  const serviceOf = new Map(containers.map((c) => [c.key, c.placement?.service]));
  const groups = new Map<string, ContainerSpec[]>();
  for (const c of containers) {
    if (!c.placement) throw new Error(`internal: ${c.key} has no swarm placement`);
    groups.set(c.placement.service, [...(groups.get(c.placement.service) ?? []), c]);
  }
  const depends = (c: ContainerSpec) => [...new Set(c.dependsOn.map((k) => serviceOf.get(k)!))].filter((s) => s !== c.placement!.service).sort();
  const shape = (c: ContainerSpec) => {
    const { key: _k, name: _n, aliases: _a, dependsOn: _d, placement, ...rest } = c;
    return JSON.stringify({ ...rest, placement: { ...placement, replica: 0 }, dependsOn: depends(c) });
  };
  return [...groups].map(([service, members]) => {
    const first = members[0];
    const differing = members.find((m) => shape(m) !== shape(first));
    if (differing) throw new Error(`internal: ${differing.key} differs from ${first.key}, but both are replicas of the swarm service ${service}`);
    return { service, spec: first, placement: first.placement!, replicas: members.length, dependsOn: depends(first) };
  });
}
