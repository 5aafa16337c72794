/**
 * Where a stack runs: one Docker engine (the default), or a Docker Swarm whose hosts are described
 * here. The constructs do not change with the target; the plan gains placement (plan/placement.ts).
 */
import { z } from "zod";

/**
 * What a swarm host may carry. `manager`: a swarm manager (counts for the quorum); `edge`: load
 * balancers, publishing their ports on the host; `data`: stateful members (PostgreSQL primary and
 * standbys, PgBouncer, Redis, memcached, RabbitMQ, search nodes), pinned to one host each with their
 * volumes local to it; `app`: web and worker tiers, spread over every `app` host.
 */
export const HOST_ROLES = ["manager", "edge", "data", "app"] as const;
export type HostRole = (typeof HOST_ROLES)[number];

const labelName = z.string().regex(/^[a-z][a-z0-9_.-]{0,62}$/, "must be lower case letters, digits, '.', '_' and '-', starting with a letter");

export const swarmHostSchema = z
  .object({
    /** Host name in the swarm; the plan pins stateful members with the node label `webstack.host=<name>`. */
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "must be lower case letters, digits and '-', starting with a letter"),
    /** Node labels of your own (the operator adds them with `docker node update --label-add`). @default {} */
    labels: z
      .record(labelName, z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, "must be 1-63 characters of A-Z a-z 0-9 . _ -"))
      .refine((labels) => !Object.keys(labels).some((k) => k.startsWith("webstack.")), "the 'webstack.' labels are set from name and roles")
      .default({}),
    /** Memory the host gives to the stack's tasks (the sum of their reservations must fit). */
    memoryMiB: z.number().int().min(256),
    /** CPUs of the host. */
    cpus: z.number().positive(),
    /** What the host may carry (see HOST_ROLES). @default ["edge", "data", "app"] (a worker carrying everything) */
    roles: z
      .array(z.enum(HOST_ROLES))
      .min(1)
      .refine((roles) => new Set(roles).size === roles.length, "lists a role twice")
      .default(["edge", "data", "app"]),
  })
  .strict();

export const engineTargetSchema = z.object({ kind: z.literal("engine") }).strict();

export const swarmTargetSchema = z
  .object({
    kind: z.literal("swarm"),
    /** The swarm's hosts, managers among them. */
    hosts: z.array(swarmHostSchema).min(1),
  })
  .strict()
  .superRefine((target, ctx) => {
    const seen = new Set<string>();
    target.hosts.forEach((h, i) => {
      if (seen.has(h.name)) ctx.addIssue({ code: "custom", path: ["hosts", i, "name"], message: `'${h.name}' names two hosts; host names are unique` });
      seen.add(h.name);
    });
    if (!target.hosts.some((h) => h.roles.includes("manager"))) {
      ctx.addIssue({ code: "custom", path: ["hosts"], message: "no host has the role 'manager'; a swarm needs at least one (1, 3 or 5 keep a quorum)" });
    }
  });

export const targetSchema = z.discriminatedUnion("kind", [engineTargetSchema, swarmTargetSchema]);

export type SwarmHost = z.output<typeof swarmHostSchema>;
export type SwarmTarget = z.output<typeof swarmTargetSchema>;
export type StackTarget = z.output<typeof targetSchema>;
