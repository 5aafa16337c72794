/**
 * Fault scenarios of the generated alerts on a running monitored cluster (invenio.test.ts): each fault
 * must fire its alert no sooner than the rule's `for` and within a scrape, an evaluation that makes it
 * pending, the `for` and the evaluation that fires it (+ a margin), and the alert must clear once the
 * fault is undone. The faults touch different components, so they run at once (the e2e time is the
 * longest one's, not their sum), and one poller of Prometheus' /api/v1/alerts serves them all; any
 * other alert that fires meanwhile fails the test (each fault must fire its own alert, nothing else).
 * Every wait is bounded; every fault is undone in a finally.
 */
import { randomBytes } from "node:crypto";
import { generateAlerts } from "../../lib/core/alerts";
import { monitoringOf } from "../../lib/core/monitoring";
import type { Topology } from "../../lib/core/topology";
import { exec } from "./applier";
import { figure, sleep, startContainer, stopContainer } from "./scenarios";

type Log = (...a: unknown[]) => void;
interface Container {
  readonly key: string;
  readonly name: string;
  readonly role: string;
  readonly address: string;
}
interface Alert {
  state: string;
  labels: Record<string, string>;
}

/** A fault: what it breaks, the alert (name and the labels it must carry) and how to undo it. */
interface Fault {
  readonly id: string;
  readonly alert: string;
  readonly labels: Readonly<Record<string, string>>;
  inject(): Promise<void>;
  recover(): Promise<void>;
  /** Checked after the alert cleared (e.g. the queue drained). @default nothing */
  afterRecovery?(): Promise<void>;
  /** Seconds the source of the metric may add before a scrape sees the change. @default 0 */
  readonly sourceDelaySeconds?: number;
}

/**
 * Python run in a web app container (its DATABASE_URL, so its role and its tier's application_name):
 * argv[1] = primary address, argv[2] = N, argv[3] = a flag file. Opens N connections to the primary,
 * prints JSON {opened, application_name}, holds them until the flag file exists (at most 600 s), closes them.
 */
const HOLD_PY = [
  "import json, os, sys, time, psycopg2, psycopg2.extensions",
  "dsn = psycopg2.extensions.parse_dsn(os.environ['DATABASE_URL'])",
  "dsn.pop('target_session_attrs', None)",
  "dsn.update(host=sys.argv[1], port='5432', connect_timeout='5')",
  "conns = [psycopg2.connect(**dsn) for _ in range(int(sys.argv[2]))]",
  "print(json.dumps({'opened': len(conns), 'application_name': dsn.get('application_name')}), flush=True)",
  "deadline = time.monotonic() + 600",
  "while time.monotonic() < deadline and not os.path.exists(sys.argv[3]): time.sleep(0.2)",
  "for c in conns: c.close()",
].join("\n");

export async function expectFaultsFireTheirAlerts(o: { topology: Topology; containers: readonly Container[]; log: Log }): Promise<void> {
  const byKey = (key: string) => o.containers.find((c) => c.key === key) ?? fail(`no container ${key} in the model`);
  const prometheus = byKey("monitoring-prometheus").name;
  const api = async (path: string): Promise<any> => {
    const r = await exec(prometheus, ["wget", "-qO-", `http://127.0.0.1:9090${path}`]);
    if (r.exitCode !== 0) throw new Error(`wget ${path} in Prometheus exited ${r.exitCode}: ${r.output}`);
    return JSON.parse(r.output).data;
  };
  const query = async (q: string) => ((await api(`/api/v1/query?query=${encodeURIComponent(q)}`)).result as Array<{ value: [number, string] }>).map((s) => Number(s.value[1]));
  const specs = generateAlerts(o.topology);
  const scrape = monitoringOf(o.topology)!.settings.scrapeIntervalSeconds; // also the evaluation interval
  const primary = byKey("db-primary");
  const app = byKey("web-1-app");

  // (b) The web tier's share, from the same line of WS-DB-CONNECTIONS the alert was generated from.
  const tierRule = specs.find((a) => a.name === "DatabaseTierOverShare" && a.ruleLabels?.tier === "web") ?? fail("no DatabaseTierOverShare for web");
  const webShare = Number(/> (\d+) connections/.exec(tierRule.threshold)![1]);
  const flag = `/tmp/e2e-hold-${randomBytes(6).toString("hex")}`;
  let holder: Promise<{ exitCode: number; output: string }> | undefined;
  // (c) Every worker consuming the celery queue is stopped, then tasks are published to it.
  const workers = o.containers.filter((c) => c.role === "celery-worker");
  const tasks = 2 * workers.length;
  const ready = `rabbitmq_detailed_queue_messages_ready{instance="mq",queue="celery"}`;

  const faults: Fault[] = [
    {
      id: "replica_stopped",
      alert: "ReplicaNotStreaming",
      labels: { instance: "db-primary" },
      inject: () => stopContainer(byKey("db-replica-1").name),
      recover: () => startContainer(byKey("db-replica-1").name),
    },
    {
      id: "web_tier_over_share",
      alert: "DatabaseTierOverShare",
      labels: { instance: "db-primary", application_name: "web" },
      inject: async () => {
        // share + 1 more, beside the pools' own: the tier is above its share whatever they hold.
        holder = exec(app.name, ["python3", "-c", HOLD_PY, primary.address, String(webShare + 1), flag]);
      },
      recover: async () => {
        await exec(app.name, ["touch", flag]);
        const r = await holder!;
        o.log(`connection holder (exit ${r.exitCode}): ${r.output.trim()}`);
        expect(r.exitCode).toBe(0);
        expect(JSON.parse(r.output.trim().split("\n").pop()!)).toEqual({ opened: webShare + 1, application_name: "web" });
      },
    },
    {
      id: "celery_workers_stopped",
      alert: "CeleryWorkerMissing",
      labels: { instance: "mq", queue: "celery" },
      // RabbitMQ collects its queue statistics every 5 s (collect_statistics_interval).
      sourceDelaySeconds: 5,
      inject: async () => {
        await Promise.all(workers.map((w) => stopContainer(w.name)));
        const r = await exec(app.name, ["python3", "-c", `from webstack_example.tasks import add\nfor i in range(${tasks}): add.delay(i, 1)`]);
        o.log(`published ${tasks} tasks to celery (exit ${r.exitCode}) ${r.output.trim()}`);
        expect(r.exitCode).toBe(0);
      },
      recover: () => Promise.all(workers.map((w) => startContainer(w.name))).then(() => undefined),
      afterRecovery: async () => {
        // The published tasks were in the queue while nobody consumed it, and the workers drain it.
        const peak = await query(`sum(max_over_time(${ready}[5m]))`);
        o.log(`celery queue: at most ${peak} ready messages while the workers were stopped`);
        expect(peak[0]).toBeGreaterThanOrEqual(tasks);
        let now = [-1];
        for (let i = 0; i < 20 && now[0] !== 0; i++) {
          if (i > 0) await sleep(3000);
          now = await query(`sum(${ready})`);
        }
        expect(now).toEqual([0]);
      },
    },
  ];

  // One poller for every fault: the active alerts every second; every alert name seen firing.
  let active: Alert[] = [];
  const seenFiring = new Set<string>();
  let polling = true;
  const poller = (async () => {
    for (let i = 0; polling && i < 900; i++) {
      try {
        active = ((await api("/api/v1/alerts")).alerts as Alert[]) ?? [];
      } catch (e) {
        o.log(`alerts poll failed: ${String(e)}`); // the next poll tries again; a stale list only delays
      }
      for (const a of active.filter((x) => x.state === "firing")) seenFiring.add(a.labels.alertname);
      await sleep(1000);
    }
  })();
  const matching = (f: Fault) => active.filter((a) => a.labels.alertname === f.alert && Object.entries(f.labels).every(([k, v]) => a.labels[k] === v));

  const run = async (f: Fault) => {
    const forSeconds = (specs.find((a) => a.name === f.alert) ?? fail(`no alert ${f.alert}`)).forSeconds;
    const t0 = Date.now();
    let firingAt = 0;
    let injected = 0;
    try {
      await f.inject();
      injected = (Date.now() - t0) / 1000;
      // A scrape sees it, an evaluation makes it pending, `for`, the evaluation that fires it; + 5 s of polling.
      const bound = injected + (f.sourceDelaySeconds ?? 0) + scrape + scrape + forSeconds + scrape + 5;
      while ((Date.now() - t0) / 1000 < bound + 10 && !firingAt) {
        if (matching(f).some((a) => a.state === "firing")) firingAt = Date.now();
        else await sleep(500);
      }
      const seconds = (firingAt - t0) / 1000;
      o.log(`${f.alert} ${JSON.stringify(f.labels)} firing ${seconds.toFixed(1)} s after the fault ${f.id} (injected in ${injected.toFixed(1)} s; for ${forSeconds} s, bound ${bound.toFixed(1)} s)`);
      expect(firingAt).toBeGreaterThan(0);
      expect(seconds).toBeGreaterThanOrEqual(forSeconds);
      expect(seconds).toBeLessThanOrEqual(bound);
      figure(`invenio_alert_${f.id}_firing_s`, seconds.toFixed(1));
    } finally {
      await f.recover();
    }
    const t1 = Date.now();
    // The daemon comes back (up to 30 s: a standby reconnects, a worker registers its consumer), a
    // scrape sees it, an evaluation resolves the alert.
    const clearBound = 30 + 2 * scrape + 5;
    while ((Date.now() - t1) / 1000 < clearBound + 10 && matching(f).length > 0) await sleep(500);
    const cleared = (Date.now() - t1) / 1000;
    o.log(`${f.alert} cleared ${cleared.toFixed(1)} s after ${f.id} was undone (bound ${clearBound} s)`);
    expect(matching(f)).toEqual([]);
    expect(cleared).toBeLessThanOrEqual(clearBound);
    figure(`invenio_alert_${f.id}_cleared_s`, cleared.toFixed(1));
    await f.afterRecovery?.();
  };

  try {
    const results = await Promise.allSettled(faults.map(run));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length > 0) throw failed[0].reason;
  } finally {
    polling = false;
    await poller;
  }
  o.log(`alerts seen firing during the faults: ${JSON.stringify([...seenFiring].sort())}`);
  expect([...seenFiring].sort()).toEqual([...new Set(faults.map((f) => f.alert))].sort());
}

function fail(message: string): never {
  throw new Error(message);
}
