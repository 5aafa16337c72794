/**
 * A rendered Redis and its rendered redis_exporter, each in its own sandbox, linked at their stack
 * addresses; the exporter started as nobody with its environment (the password), and up (`redis_up 1`)
 * before `body` runs. The exporter's log is added to a failure; both sandboxes are stopped after.
 */
import { Sandbox, link, type Container } from "./harness";

export async function withRedisAndExporter(redis: Container, exporter: Container, body: (rd: Sandbox, metrics: () => Promise<string>) => Promise<void>): Promise<void> {
  const rd = new Sandbox(redis.key, { files: redis.files, setup: "mkdir -p /data && chown redis:redis /data" });
  const ex = new Sandbox(exporter.key, { files: exporter.files, setup: "ln -sf /usr/bin/prometheus-redis-exporter /usr/local/bin/redis_exporter" });
  try {
    await rd.start({ user: redis.user ?? "redis", argv: redis.command, env: redis.env });
    await ex.start();
    await link(rd, `${redis.address}/16`, ex, `${exporter.address}/16`);
    expect((await ex.sh(`${exporter.command.join(" ")} >/tmp/exporter.log 2>&1 &`, { user: "nobody", env: exporter.env })).code).toBe(0);
    const metrics = async () => (await ex.exec(["curl", "-s", "--max-time", "5", "http://127.0.0.1:9121/metrics"])).stdout;
    await ex.waitFor("redis_up 1", async () => /^redis_up 1$/m.test(await metrics()), 30_000);
    await body(rd, metrics);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- exporter ---\n${(await ex.sh("cat /tmp/exporter.log").catch(() => ({ stdout: "" }))).stdout.slice(-2000)}`);
  } finally {
    await ex.stop();
    await rd.stop();
  }
}
