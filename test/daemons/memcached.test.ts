import { Cache, Database, LoadBalancer, WebStack, WebTier } from "../../lib";
import { Sandbox, container, containersOf, testWith } from "./harness";

const it = testWith(["memcached", "python3", "unshare", "nsenter", "ip"]);

const STATS = `
import socket, sys
s = socket.create_connection(("127.0.0.1", 11211), 3)
s.sendall(b"stats settings\\r\\n")
buf = b""
while not buf.endswith(b"END\\r\\n"):
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
print(buf.decode())
`;

describe("memcached runs the rendered argument list", () => {
  it("maxconns, item memory, threads and UDP off as rendered", async () => {
    const cs = containersOf((scope) => {
      const stack = new WebStack(scope, "mc", { subnet: "127.77.0.0/16" });
      const db = new Database(stack, "db", { replicas: 0 });
      const cache = new Cache(stack, "cache", { engine: "memcached", memoryMiB: 256 });
      const web = new WebTier(stack, "web", { nodes: 1, image: "webstack-example-app:0.1", wsgiModule: "webstack_example.wsgi:application", database: db, cache });
      new LoadBalancer(stack, "lb", { defaultTarget: web });
      return stack;
    });
    const mc = container(cs, "cache");
    expect(mc.role).toBe("memcached");
    const arg = (name: string) => {
      const a = mc.command.find((x) => x.startsWith(`--${name}=`));
      if (!a) throw new Error(`no --${name} in ${mc.command.join(" ")}`);
      return a.slice(name.length + 3);
    };
    const box = new Sandbox("memcached", { files: mc.files });
    try {
      await box.start({ user: mc.user ?? "memcache", argv: mc.command, env: mc.env });
      let stats: Record<string, string> = {};
      await box.waitFor("memcached stats", async () => {
        const r = await box.exec(["python3", "-c", STATS]);
        if (r.code !== 0) return false;
        stats = Object.fromEntries(r.stdout.split("\n").filter((l) => l.startsWith("STAT ")).map((l) => l.trim().split(" ").slice(1, 3)));
        return "maxconns" in stats;
      }, 30_000);
      expect(stats.maxconns).toBe(arg("conn-limit"));
      expect(stats.maxbytes).toBe(String(Number(arg("memory-limit")) * 1024 * 1024));
      expect(stats.num_threads).toBe(arg("threads"));
      expect(stats.udpport).toBe("0");
      expect(stats.tcpport).toBe("11211");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- memcached log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
