import { buildInvenioStack } from "../../examples/invenio/stack";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, testWith } from "./harness";

const it = testWith(["redis-server", "redis-cli", "unshare", "nsenter", "ip"]);

/** Redis memory units: 1mb = 1024*1024 bytes, 1gb = 1024^3, plain number = bytes. */
function redisBytes(v: string): number {
  const m = /^(\d+)(kb|mb|gb)?$/i.exec(v.trim());
  if (!m) throw new Error(`not a redis size: ${v}`);
  return Number(m[1]) * { "": 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? "").toLowerCase() as "" | "kb" | "mb" | "gb"];
}

describe("Redis 7.0 runs the rendered cache (invenio example)", () => {
  it("start.sh passes the password on stdin; maxclients/maxmemory as rendered; NOAUTH without password", async () => {
    const cache = container(containersOf((s) => buildInvenioStack(s)), "cache");
    const conf = fileIn(cache, "/usr/local/etc/redis/redis.conf");
    // The redis image's working directory and data volume.
    const box = new Sandbox("redis", { files: cache.files, setup: "mkdir -p /data && chown redis:redis /data" });
    try {
      await box.start({ user: cache.user ?? "redis", argv: cache.command, env: cache.env });
      const cli = (args: string[], password?: string) =>
        box.exec(["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", "6379", ...(password ? ["-a", password] : []), ...args]);
      const pw = secretValue("cache_password");
      await box.waitFor("redis PONG", async () => (await cli(["ping"], pw)).stdout.trim() === "PONG", 30_000);
      expect((await cli(["ping"])).stdout).toMatch(/NOAUTH/);
      expect((await cli(["ping"], "wrong")).stdout + (await cli(["ping"], "wrong")).stderr).toMatch(/WRONGPASS|invalid username-password/);
      expect((await cli(["config", "get", "maxclients"], pw)).stdout.trim().split("\n")).toEqual(["maxclients", confValue(conf, "maxclients")]);
      expect((await cli(["config", "get", "maxmemory"], pw)).stdout.trim().split("\n")).toEqual(["maxmemory", String(redisBytes(confValue(conf, "maxmemory")))]);
      expect((await cli(["config", "get", "maxmemory-policy"], pw)).stdout.trim().split("\n")[1]).toBe(confValue(conf, "maxmemory-policy"));
      // Renamed-away admin commands.
      expect((await cli(["flushall"], pw)).stdout).toMatch(/unknown command/i);
      // The password never appears on the command line.
      const ps = await box.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
      expect(ps.stdout).not.toContain(pw);
      // The rendered healthcheck passes.
      const hc = cache.healthcheck as { test: string[] } | undefined;
      if (hc?.test[0] === "CMD-SHELL") expect((await box.exec(["/bin/sh", "-c", hc.test[1]], { env: cache.env })).code).toBe(0);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- redis log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
