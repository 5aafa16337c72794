/** The Celery broker: RabbitMQ (one user, no guest) or Redis (see redis.ts). */
import { queueImage, rabbitmqWatermarkMiB } from "../derive";
import {
  RABBITMQ_CONF_DIR,
  RABBITMQ_MANAGEMENT_PORT,
  RABBITMQ_PORT,
  RABBITMQ_PROMETHEUS_PORT,
  renderRabbitmqConf,
  renderRabbitmqEnabledPlugins,
  renderRabbitmqStart,
} from "../render/rabbitmq";
import { monitoringOf } from "../monitoring";
import type { QueueModel } from "../topology";
import { ENV, rabbitmqPassword } from "./clients";
import { cmd, file, type PlanContext, type Planner } from "./context";
import { planRedis } from "./redis";

export const queuePlanner: Planner<"queue"> = {
  kind: "queue",
  plan(ctx: PlanContext, queue: QueueModel): void {
    const s = queue.settings;
    if (s.engine === "redis") {
      planRedis(ctx, queue, s.maxConnections, s.memoryMiB, queueImage(s));
      return;
    }
    const password = rabbitmqPassword(ctx, queue);
    const conf = { vhost: s.vhost, user: s.user, connectionMax: s.maxConnections, watermarkBytes: rabbitmqWatermarkMiB(s) * 1024 * 1024, managementUi: s.managementUi, prometheus: monitoringOf(ctx.topology) !== undefined };
    ctx.container({
      key: queue.id,
      constructPath: queue.path,
      role: "rabbitmq",
      image: queueImage(s),
      command: ["/bin/sh", `${RABBITMQ_CONF_DIR}/start.sh`],
      user: "rabbitmq",
      env: { [ENV.rabbitmqPassword]: password, RABBITMQ_NODENAME: `rabbit@${queue.id}` },
      address: ctx.address(queue, 0),
      listens: [
        { port: RABBITMQ_PORT, purpose: "amqp" },
        ...(s.managementUi ? [{ port: RABBITMQ_MANAGEMENT_PORT, purpose: "management UI (internal)" }] : []),
        ...(conf.prometheus ? [{ port: RABBITMQ_PROMETHEUS_PORT, purpose: "prometheus metrics (internal)" }] : []),
      ],
      files: [
        file(`${RABBITMQ_CONF_DIR}/rabbitmq.conf`, renderRabbitmqConf(conf)),
        file(`${RABBITMQ_CONF_DIR}/enabled_plugins`, renderRabbitmqEnabledPlugins(conf)),
        file(`${RABBITMQ_CONF_DIR}/start.sh`, renderRabbitmqStart(ENV.rabbitmqPassword), true),
      ],
      mounts: [ctx.volume(queue, `${queue.id}-data`, "/var/lib/rabbitmq")],
      memoryMiB: s.memoryMiB,
      healthcheck: { ...cmd("rabbitmq-diagnostics", "--quiet", "ping"), intervalSeconds: 15, timeoutSeconds: 10, startPeriodSeconds: 60 },
      stopTimeoutSeconds: 60,
    });
  },
};
