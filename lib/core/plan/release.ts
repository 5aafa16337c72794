/**
 * A web tier's release steps (migrations): one one-shot container of the app image with the app's
 * environment, which the deploy runs to its end before the tier's app containers, and before the
 * Celery containers of every worker tier on the same database, are created.
 */
import { webAppMemoryMiB } from "../derive";
import { releaseSlot } from "../layout";
import { RELEASE_SCRIPT, WAIT_FOR_SERVICES, WAIT_FOR_SERVICES_PY, renderReleaseScript } from "../render/release";
import { componentsOf, type WebTierModel, type WorkerTierModel } from "../topology";
import { serviceEndpoints } from "./clients";
import { file, type PlanContext } from "./context";

/** Plans the tier's release container, if it has release steps; returns its key. */
export function planRelease(ctx: PlanContext, tier: WebTierModel, env: Readonly<Record<string, string>>, dependsOn: readonly string[]): string | undefined {
  const slot = releaseSlot(tier);
  if (!slot) return undefined;
  const s = tier.settings;
  ctx.container({
    key: slot.key,
    constructPath: tier.path,
    role: "release",
    image: s.image,
    command: ["/bin/sh", RELEASE_SCRIPT],
    env,
    address: ctx.address(tier, slot),
    listens: [],
    files: [
      file(RELEASE_SCRIPT, renderReleaseScript({ constructPath: tier.path, commands: s.release, endpoints: serviceEndpoints(ctx, tier) }), true),
      file(WAIT_FOR_SERVICES, WAIT_FOR_SERVICES_PY),
    ],
    dependsOn,
    memoryMiB: webAppMemoryMiB(s),
    // It runs to its end: no health check (not even one the image declares).
    healthcheck: { test: ["NONE"], intervalSeconds: 0, timeoutSeconds: 0, retries: 0, startPeriodSeconds: 0 },
    oneShot: {
      failureMessage: `The release steps of ${tier.path} failed (the container ${ctx.topology.prefix}-${slot.key} exited non-zero; its log says which command). Its web nodes, and the Celery containers on its database, were not created. Every plan fails on this until the release container is replaced: fix the image or the commands and deploy again (either replaces it, and it runs again), or rerun it as it is with terraform apply -replace=docker_container.container-${slot.key}.`,
    },
  });
  return slot.key;
}

/** Release containers a worker tier starts after: those of the web tiers on its database (their migrations change its schema). */
export function releasesBefore(ctx: PlanContext, tier: WorkerTierModel): string[] {
  const db = tier.database;
  if (!db) return [];
  return componentsOf(ctx.topology, "webTier")
    .filter((web) => web.database?.path === db.path)
    .flatMap((web) => releaseSlot(web)?.key ?? []);
}
