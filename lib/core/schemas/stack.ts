/** WebStack props. */
import { z } from "zod";
import { targetSchema } from "./target";

export const stackSchema = z
  .object({
    /** Prefix of every Docker object name (containers, network, volumes). @default the stack id */
    namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "must be lower case letters, digits and '-'").optional(),
    /** Fixed subnet of the stack's network; each construct gets its own block of 256 addresses. @default "172.30.0.0/16" */
    subnet: z
      .string()
      .regex(/^(\d{1,3})\.(\d{1,3})\.0\.0\/(1[6-9]|2[0-3])$/, "must be an IPv4 subnet 'a.b.0.0/N' with 16 <= N <= 23")
      .default("172.30.0.0/16"),
    /** Docker engine address for the provider. @default "unix:///var/run/docker.sock" */
    dockerHost: z.string().default("unix:///var/run/docker.sock"),
    /**
     * Secrets of the app itself (Django's SECRET_KEY, say): Terraform variable name -> what it protects.
     * Each is a sensitive variable without default, validated as the stack's own (16+ URL-safe
     * characters); `stack.secret(name)` places it in a tier's environment. @default {}
     */
    appSecrets: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower case letters, digits and '_', starting with a letter"), z.string().min(1))
      .default({}),
    /**
     * Where the stack runs: `{ kind: "engine" }`, one Docker engine (`dockerHost`), or
     * `{ kind: "swarm", hosts: [...] }`, a Docker Swarm reached through a manager at `dockerHost`:
     * services instead of containers, placed on the hosts by their roles. @default { kind: "engine" }
     */
    target: targetSchema.optional(),
    /** Share of a limit above which a passing budget is reported as a warning. @default 0.8 */
    warnAtFraction: z.number().gt(0).lt(1).default(0.8),
  })
  .strict();
