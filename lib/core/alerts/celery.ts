/**
 * Alerts on Celery's queues, each from the worker tiers the model has consuming them: on RabbitMQ its
 * per-queue consumers, ready and unacknowledged messages; on a Redis broker the length of the queue's
 * list (redis_exporter's `--check-single-keys`), the one figure Redis keeps of a queue.
 */
import { componentsOf, type QueueModel, type Topology } from "../topology";
import { gauge, type AlertSpec } from "./spec";

/** What the model says of each queue's consumers. */
interface Consumers {
  readonly workers: number;
  /** Worker processes: workers x concurrency. */
  readonly capacity: number;
  /** The most messages the workers may hold unacknowledged: workers x concurrency x prefetchMultiplier. */
  readonly prefetch: number;
  readonly tiers: readonly string[];
  readonly prefetchTerms: readonly string[];
}

/** The Celery queues consumed from `q`, by name, with their consumers in the model. */
export function celeryConsumers(t: Topology, q: QueueModel): Map<string, Consumers> {
  const consumers = new Map<string, Consumers>();
  for (const w of componentsOf(t, "workerTier").filter((x) => x.queue?.path === q.path)) {
    const s = w.settings;
    for (const name of s.queues) {
      const c = consumers.get(name) ?? { workers: 0, capacity: 0, prefetch: 0, tiers: [], prefetchTerms: [] };
      consumers.set(name, {
        workers: c.workers + s.nodes,
        capacity: c.capacity + s.nodes * s.concurrency,
        prefetch: c.prefetch + s.nodes * s.concurrency * s.prefetchMultiplier,
        tiers: [...c.tiers, `${w.path} (${s.nodes} workers)`],
        prefetchTerms: [...c.prefetchTerms, `${w.path}: ${s.nodes} workers x concurrency ${s.concurrency} x prefetchMultiplier ${s.prefetchMultiplier}`],
      });
    }
  }
  return consumers;
}

/**
 * RabbitMQ, per Celery queue: as many consumers as the model has workers consuming it, a backlog that
 * does not grow, and no more unacknowledged messages than its workers may hold (prefetched or running).
 */
export function celeryRabbitmqQueueAlerts(t: Topology, q: QueueModel): AlertSpec[] {
  const sel = `job="rabbitmq-queues-${q.id}",instance="${q.id}",vhost="${q.settings.vhost}"`;
  return [...celeryConsumers(t, q)].flatMap(([queue, c]): AlertSpec[] => [
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryWorkerMissing",
      expr: `sum by (instance, queue) (rabbitmq_detailed_queue_consumers{${sel},queue="${queue}"}) < ${c.workers}`,
      forSeconds: 120,
      severity: "critical",
      summary: `${q.path}: fewer consumers on queue ${queue} than the ${c.workers} Celery workers that consume it`,
      threshold: `< ${c.workers} consumers on ${queue}`,
      source: `the model: ${c.tiers.join(", ")} consume ${queue}`,
      check: {
        series: [{ series: `rabbitmq_detailed_queue_consumers{${sel},queue="${queue}"}`, firing: `${c.workers - 1}x30`, quiet: `${c.workers}x30` }],
        labels: { instance: q.id, queue },
      },
    },
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryQueueGrowing",
      expr: `rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"} > 0 and deriv(rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"}[10m]) > 0`,
      forSeconds: 600,
      severity: "warning",
      summary: `${q.path}: tasks waiting on ${queue} keep growing for 10 min: its ${c.capacity} worker processes do not keep up`,
      threshold: "ready messages > 0 and growing for 10 min",
      source: `the consumers' capacity in the model: ${c.capacity} processes (workers x concurrency)`,
      check: {
        series: [{ series: `rabbitmq_detailed_queue_messages_ready{${sel},queue="${queue}"}`, firing: "0+5x30", quiet: "3x30" }],
        labels: { job: `rabbitmq-queues-${q.id}`, instance: q.id, vhost: q.settings.vhost, queue },
      },
    },
    {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryUnackedHigh",
      // Celery acknowledges a task when it starts it (acks_late off): what is unacknowledged is prefetched, at most prefetch multiplier x concurrency per worker.
      expr: `rabbitmq_detailed_queue_messages_unacked{${sel},queue="${queue}"} > ${c.prefetch}`,
      forSeconds: 600,
      severity: "warning",
      summary: `${q.path}: more messages on ${queue} are unacknowledged for 10 min than its workers may prefetch (${c.prefetch}): tasks with an ETA or countdown held by the workers, or consumers that do not acknowledge`,
      threshold: `> ${c.prefetch} unacknowledged messages on ${queue} for 10 min`,
      source: `the model: ${c.prefetchTerms.join(" + ")}`,
      check: {
        series: [gauge(`rabbitmq_detailed_queue_messages_unacked{${sel},queue="${queue}"}`, c.prefetch)],
        labels: { job: `rabbitmq-queues-${q.id}`, instance: q.id, vhost: q.settings.vhost, queue },
      },
    },
  ]);
}

/**
 * A Redis broker: the queue's list keeps growing. Redis has no consumers to count, and Celery's
 * unacknowledged messages sit in its own `unacked` hash, not per queue: the backlog is what it tells.
 */
export function celeryRedisQueueAlerts(t: Topology, q: QueueModel, db: number): AlertSpec[] {
  return [...celeryConsumers(t, q)].map(([queue, c]): AlertSpec => {
    const series = `redis_key_size{job="redis",instance="${q.id}",db="db${db}",key="${queue}"}`;
    return {
      group: q.id,
      component: q.path,
      ruleLabels: { queue },
      name: "CeleryQueueGrowing",
      expr: `${series} > 0 and deriv(${series}[10m]) > 0`,
      forSeconds: 600,
      severity: "warning",
      summary: `${q.path}: tasks waiting on ${queue} keep growing for 10 min: its ${c.capacity} worker processes do not keep up`,
      threshold: "queue length > 0 and growing for 10 min",
      source: `the consumers' capacity in the model: ${c.capacity} processes (workers x concurrency); the list ${queue} in the broker's db ${db}`,
      check: { series: [{ series, firing: "0+5x30", quiet: "3x30" }], labels: { job: "redis", instance: q.id, db: `db${db}`, key: queue } },
    };
  });
}
