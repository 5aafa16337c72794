/** `redisDirectives`, checked by the real Redis: extra directives take effect, an unknown one stops it at start. */
import { Cache, WebStack } from "../../lib";
import { Sandbox, container, containersOf, secretValue, testWith, type Container } from "./harness";

const it = testWith(["redis-server", "redis-cli", "unshare", "nsenter", "ip"]);

function cacheWith(redisDirectives: Record<string, string | number | boolean | string[]>): Container {
  return container(
    containersOf((scope) => {
      const stack = new WebStack(scope, "redis-extra");
      new Cache(stack, "cache", { redisDirectives });
      return stack;
    }),
    "cache",
  );
}

async function withRedis(cache: Container, fn: (box: Sandbox) => Promise<void>): Promise<void> {
  const box = new Sandbox("redis-extra", { files: cache.files, setup: "mkdir -p /data && chown redis:redis /data" });
  try {
    await box.start({ user: cache.user ?? "redis", argv: cache.command, env: cache.env });
    await fn(box);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- redis log ---\n${box.log()}`);
  } finally {
    await box.stop();
  }
}

describe("redisDirectives, checked by Redis 7.0", () => {
  it("extra directives take effect (CONFIG GET), beside the rendered ones", async () => {
    const cache = cacheWith({ hz: 20, "lazyfree-lazy-eviction": true, "notify-keyspace-events": "Ex", "client-output-buffer-limit": ["pubsub 32mb 8mb 60"] });
    await withRedis(cache, async (box) => {
      const pw = secretValue("cache_password");
      const get = async (name: string) => (await box.exec(["redis-cli", "--no-auth-warning", "-a", pw, "config", "get", name])).stdout.trim().split("\n")[1];
      await box.waitFor("redis PONG", async () => (await box.exec(["redis-cli", "--no-auth-warning", "-a", pw, "ping"])).stdout.trim() === "PONG", 30_000);
      expect(await get("hz")).toBe("20");
      expect(await get("lazyfree-lazy-eviction")).toBe("yes");
      // Redis keeps the flags in its own order.
      expect(await get("notify-keyspace-events")).toBe("xE");
      expect(await get("client-output-buffer-limit")).toContain("pubsub 33554432 8388608 60");
      // The password still guards it.
      expect((await box.exec(["redis-cli", "ping"])).stdout).toMatch(/NOAUTH/);
    });
  });

  it("a directive Redis does not know stops it at start", async () => {
    const cache = cacheWith({ "notify-keyspace-event": "Ex" });
    await withRedis(cache, async (box) => {
      await box.waitFor("redis to exit", async () => /Bad directive or wrong number of arguments/.test(box.log()), 20_000);
      expect(box.log()).toContain("notify-keyspace-event");
      expect((await box.sh("pgrep -x redis-server || true")).stdout.trim()).toBe("");
    });
  });
});
