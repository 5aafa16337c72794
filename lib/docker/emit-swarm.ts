/**
 * The swarm target: the plan as `docker_service`s on a Docker Swarm (the provider talks to a
 * manager). Per service: replicas, placement from the plan, rendered files as `docker_config`s
 * whose names carry their content hash (a changed file makes a new config and rolls the service),
 * secrets as `docker_secret`s (one per sensitive variable, read by a start wrapper, see
 * swarm-services.ts), an overlay network with `endpoint_mode = dnsrr` (no IPVS, no ingress mesh:
 * the load balancer publishes in host mode), health checks, memory limits equal to reservations,
 * restart policy, update and rollback configs; release steps as a task that stays up once they are done
 * (see releaseTask). Volumes are not resources here: each host's engine
 * makes a service's named volume where its task runs (a pinned member's stays on its host).
 */
import { Fn, TerraformVariable } from "cdktf";
import type { Construct } from "constructs";
import { Config } from "@cdktf/provider-docker/lib/config";
import { Network } from "@cdktf/provider-docker/lib/network";
import { Secret } from "@cdktf/provider-docker/lib/secret";
import { Service } from "@cdktf/provider-docker/lib/service";
import { createHash } from "node:crypto";
import { PropsError } from "../core/errors";
import type { ClusterPlan, FileSpec } from "../core/model";
import { HOST_LABEL } from "../core/placement";
import { secretsIn, substituteSecrets } from "../core/secrets";
import { declareSecretVariables, escapeTerraformTemplate } from "./emit";
import { SWARM_RELEASE_TIMEOUT_SECONDS, releaseTask, swarmEnvironment, swarmServices, type SwarmService } from "./swarm-services";

export interface EmittedSwarmResources {
  readonly network: Network;
  readonly configs: Readonly<Record<string, Config>>;
  readonly secrets: Readonly<Record<string, Secret>>;
  readonly services: Readonly<Record<string, Service>>;
  readonly variables: Readonly<Record<string, TerraformVariable>>;
}

const MiB = 1024 * 1024;
const slug = (s: string) => s.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
const sha = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 12);
/** File modes of configs and secrets: readable by the daemon's own user (postgres, haproxy). */
const READ_ONLY = 0o444;
const EXECUTABLE = 0o555;

/**
 * Stateless services roll one replica at a time, the new one started and healthy before the old
 * one stops, and roll back when one fails. A pinned member (its volume is on one host), a
 * service publishing host ports (one listener per host) and an exclusive one (Celery beat) stop first.
 */
function rolling(s: SwarmService) {
  if (s.spec.oneShot) {
    // A release: never two at once (two migrations racing), and healthy means done, so a short watch;
    // a failed one pauses the update (the deploy fails) instead of rolling back to the old steps.
    const once = { parallelism: 1, order: "stop-first", delay: "0s", failureAction: "pause", monitor: "5s", maxFailureRatio: "0" };
    return { updateConfig: once, rollbackConfig: once };
  }
  const startFirst = s.placement.host === undefined && !s.placement.exclusive && s.spec.publishes.length === 0;
  const order = startFirst ? "start-first" : "stop-first";
  const monitor = `${Math.max(30, s.spec.healthcheck.startPeriodSeconds + s.spec.healthcheck.intervalSeconds * s.spec.healthcheck.retries)}s`;
  return {
    updateConfig: { parallelism: 1, order, delay: "5s", failureAction: "rollback", monitor, maxFailureRatio: "0" },
    rollbackConfig: { parallelism: 1, order, delay: "0s", failureAction: "pause", monitor, maxFailureRatio: "0" },
  };
}

export function emitSwarmResources(scope: Construct, plan: ClusterPlan): EmittedSwarmResources {
  const target = plan.target;
  if (!target) throw new Error("internal: emitSwarmResources needs a plan with a swarm target");
  const variables = declareSecretVariables(scope, plan);
  const secretRefs = new Map(Object.entries(variables).map(([name, v]) => [name, v.stringValue]));
  const resolve = (text: string) => substituteSecrets(escapeTerraformTemplate(text), (name) => secretRefs.get(name)!);
  const prefix = plan.network.name.replace(/-net$/, "");

  const network = new Network(scope, "network", {
    name: plan.network.name,
    driver: "overlay",
    attachable: true,
    ipamConfig: [{ subnet: plan.network.subnet }],
  });

  // One docker_secret per sensitive variable a service reads; its name carries a hash of the value,
  // so a new value makes a new secret (a secret's data cannot change) and rolls its services.
  const secrets: Record<string, Secret> = {};
  const secretFor = (name: string) =>
    (secrets[name] ??= new Secret(scope, `secret-${name}`, {
      name: `${prefix}-${name}-${Fn.substr(Fn.sha256(secretRefs.get(name)!), 0, 12)}`,
      data: Fn.base64encode(secretRefs.get(name)!),
      lifecycle: { createBeforeDestroy: true },
    }));

  const configs: Record<string, Config> = {};
  const configFor = (service: string, f: FileSpec) => {
    const id = `config-${service}-${slug(f.path)}`;
    return (configs[id] ??= new Config(scope, id, {
      name: `${prefix}-${service}-${slug(f.path.split("/").pop()!)}-${sha(f.content)}`,
      data: Buffer.from(f.content, "utf8").toString("base64"),
      lifecycle: { createBeforeDestroy: true },
    }));
  };

  const services: Record<string, Service> = {};
  for (const planned of swarmServices(plan.containers)) {
    const s = { ...planned, spec: releaseTask(planned.spec) };
    const c = s.spec;
    const bound = c.publishes.find((port) => port.hostIp !== "0.0.0.0");
    if (bound) {
      throw new PropsError(c.constructPath, [`bindAddress: '${bound.hostIp}' cannot be kept on a swarm, where a port published in host mode listens on every address of the host; leave the default 0.0.0.0 and filter on the host`]);
    }
    // Monitoring (the only user of both) is refused on a swarm: a service spec here would drop them silently.
    if (c.cgroupParent !== undefined || (c.hostMounts ?? []).length > 0) throw new Error(`internal: ${c.key} has a cgroup parent or a host mount, which a swarm service does not carry`);
    if (c.command.some((word) => secretsIn(word).length > 0)) throw new Error(`internal: the command of ${c.key} names a secret, which a service spec would show`);
    const env = swarmEnvironment(c);
    const files = [...c.files, ...(env.script ? [env.script] : [])].sort((a, b) => a.path.localeCompare(b.path));
    // A rendered file naming a secret (a TLS key) is a docker_secret of its own, mounted at its path.
    const fileSecrets = files
      .filter((f) => secretsIn(f.content).length > 0)
      .map((f) => {
        const resolved = resolve(f.content);
        const secret = new Secret(scope, `secret-${s.service}-${slug(f.path)}`, {
          name: `${prefix}-${s.service}-${slug(f.path.split("/").pop()!)}-${Fn.substr(Fn.sha256(resolved), 0, 12)}`,
          data: Fn.base64encode(resolved),
          lifecycle: { createBeforeDestroy: true },
        });
        secrets[`${s.service}:${f.path}`] = secret;
        return { secretId: secret.id, secretName: secret.name, fileName: f.path, fileMode: READ_ONLY };
      });
    const p = s.placement;
    services[s.service] = new Service(scope, `service-${s.service}`, {
      name: `${prefix}-${s.service}`,
      labels: [
        { label: "webstack.construct", value: resolve(c.constructPath) },
        { label: "webstack.role", value: c.role },
      ],
      mode: { replicated: { replicas: s.replicas } },
      taskSpec: {
        containerSpec: {
          image: c.image,
          // The first word is the entrypoint, so no image entrypoint script rewrites the command.
          command: [env.command[0]],
          args: env.command.slice(1).map((a) => escapeTerraformTemplate(a)),
          // The host and task slot, so an app's log says where each request was served.
          hostname: `{{.Node.Hostname}}-${s.service}-{{.Task.Slot}}`,
          user: c.user,
          env: Object.keys(env.plain).length > 0 ? Object.fromEntries(Object.entries(env.plain).map(([k, v]) => [k, escapeTerraformTemplate(v)])) : undefined,
          configs: files
            .filter((f) => secretsIn(f.content).length === 0)
            .map((f) => {
              const config = configFor(s.service, f);
              return { configId: config.id, configName: config.name, fileName: f.path, fileMode: f.executable ? EXECUTABLE : READ_ONLY, fileUid: "0", fileGid: "0" };
            }),
          secrets: [
            ...env.secrets.map((name) => ({ secretId: secretFor(name).id, secretName: secretFor(name).name, fileName: name, fileMode: READ_ONLY })),
            ...fileSecrets,
          ],
          mounts: c.mounts.map((m) => ({ type: "volume", source: `${prefix}-${m.volume}`, target: m.path, readOnly: m.readOnly })),
          healthcheck: {
            test: env.healthcheck.test.map((t) => escapeTerraformTemplate(t)),
            interval: `${c.healthcheck.intervalSeconds}s`,
            timeout: `${c.healthcheck.timeoutSeconds}s`,
            retries: c.healthcheck.retries,
            startPeriod: `${c.healthcheck.startPeriodSeconds}s`,
          },
          stopGracePeriod: `${c.stopTimeoutSeconds}s`,
          stopSignal: c.stopSignal,
          sysctl: Object.keys(c.sysctls).length > 0 ? { ...c.sysctls } : undefined,
        },
        networksAdvanced: [{ name: network.name, aliases: [s.service] }],
        placement: {
          constraints: Object.keys(p.constraints)
            .sort()
            .map((label) => `node.labels.${label}==${p.constraints[label]}`),
          maxReplicas: p.maxReplicasPerNode,
          prefs: p.host === undefined ? [`spread=node.labels.${HOST_LABEL}`] : undefined,
        },
        resources: {
          limits: { memoryBytes: c.memoryMiB * MiB, nanoCpus: c.cpus === undefined ? undefined : Math.round(c.cpus * 1e9) },
          // Reserved as much as the limit: the scheduler places a task only where its memory fits.
          reservation: { memoryBytes: c.memoryMiB * MiB },
        },
        restartPolicy: c.oneShot ? { condition: "none" } : { condition: "any", delay: "5s", window: "60s" },
        logDriver: { name: "json-file", options: { "max-size": "10m", "max-file": "3" } },
      },
      endpointSpec: {
        mode: "dnsrr",
        ports: c.publishes.map((port) => ({ targetPort: port.containerPort, publishedPort: port.hostPort, publishMode: "host", protocol: "tcp" })),
      },
      ...rolling(s),
      convergeConfig: { delay: "5s", timeout: c.oneShot ? `${SWARM_RELEASE_TIMEOUT_SECONDS + 60}s` : "5m" },
      // The plan lists every service after the ones it depends on.
      dependsOn: s.dependsOn.map((d) => {
        if (!services[d]) throw new Error(`internal: ${s.service} depends on ${d}, which the plan lists later or not at all`);
        return services[d];
      }),
    });
  }
  return { network, configs, secrets, services, variables };
}
