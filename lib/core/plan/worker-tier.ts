/** A Celery worker tier: its workers, at most one beat scheduler and an optional Flower, each a container. */
import { FLOWER_MEMORY_MIB, beatMemoryMiB, workerMemoryMiB } from "../derive";
import { workerSlots } from "../layout";
import { applicationName } from "../monitoring";
import { BEAT_HEALTH_PROBE, FLOWER_PORT, celeryBeatCommand, celeryWorkerCommand, flowerCommand } from "../render/celery";
import type { WorkerTierModel } from "../topology";
import { clientEnv, resolveEnvironment, serviceKeys } from "./clients";
import { cmd, shell, type PlanContext, type Planner } from "./context";
import { releasesBefore } from "./release";

export const workerTierPlanner: Planner<"workerTier"> = {
  kind: "workerTier",
  plan(ctx: PlanContext, tier: WorkerTierModel): void {
    const s = tier.settings;
    const name = applicationName(ctx.topology, tier);
    const env = { ...clientEnv(ctx, tier, s, name), ...resolveEnvironment(ctx, tier, s.environment, name) };
    // The beat connects under a name of its own (a share of its own in the budget); the same URLs otherwise.
    const beatName = applicationName(ctx.topology, tier, true);
    const beatEnv = beatName === undefined ? env : { ...clientEnv(ctx, tier, s, beatName), ...resolveEnvironment(ctx, tier, s.environment, beatName) };
    const dependsOn = [...serviceKeys(tier), ...releasesBefore(ctx, tier)];
    const slots = workerSlots(tier);
    for (const slot of slots.workers) {
      ctx.container({
        key: slot.key,
        constructPath: tier.path,
        role: "celery-worker",
        image: s.image,
        command: celeryWorkerCommand({
          app: s.celeryApp,
          nodeName: ctx.replicaName(tier, slot.key),
          concurrency: s.concurrency,
          prefetchMultiplier: s.prefetchMultiplier,
          maxTasksPerChild: s.maxTasksPerChild,
          queues: s.queues,
        }),
        env,
        address: ctx.address(tier, slot),
        listens: [],
        files: [],
        memoryMiB: workerMemoryMiB(s),
        dependsOn,
        healthcheck: shell(`celery --app=${s.celeryApp} inspect ping --destination=${ctx.replicaName(tier, slot.key)}@$(hostname) --timeout=5 | grep -q pong`, 30),
        stopTimeoutSeconds: 60,
      });
    }
    if (slots.beat) {
      ctx.container({
        key: slots.beat.key,
        constructPath: tier.path,
        role: "celery-beat",
        image: s.image,
        command: celeryBeatCommand(s.celeryApp, s.beatScheduler),
        env: beatEnv,
        address: ctx.address(tier, slots.beat),
        listens: [],
        files: [],
        memoryMiB: beatMemoryMiB(s),
        healthcheck: shell(BEAT_HEALTH_PROBE, 30),
        dependsOn,
      });
    }
    if (slots.flower) {
      ctx.container({
        key: slots.flower.key,
        constructPath: tier.path,
        role: "flower",
        image: s.flowerImage ?? s.image,
        command: flowerCommand(s.flowerImage ? undefined : s.celeryApp),
        env,
        address: ctx.address(tier, slots.flower),
        listens: [{ port: FLOWER_PORT, purpose: "flower (internal)" }],
        files: [],
        memoryMiB: FLOWER_MEMORY_MIB,
        healthcheck: cmd("python3", "-c", `import urllib.request; urllib.request.urlopen("http://127.0.0.1:${FLOWER_PORT}/healthcheck", timeout=4)`),
      });
    }
  },
};
