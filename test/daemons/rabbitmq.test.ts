import { buildInvenioStack } from "../../examples/invenio/stack";
import { Sandbox, confValue, container, containersOf, fileIn, secretValue, testWith } from "./harness";

const it = testWith(["rabbitmq-server", "rabbitmqctl", "unshare", "nsenter", "ip"]);

describe("RabbitMQ 3.10 runs the rendered queue (invenio example)", () => {
  it("start.sh boots the node; app user and vhost exist, no guest; connection_max and watermark applied", async () => {
    const mq = container(containersOf((s) => buildInvenioStack(s)), "mq");
    const conf = fileIn(mq, "/etc/rabbitmq/rabbitmq.conf");
    const node = mq.env.RABBITMQ_NODENAME;
    const host = node.split("@")[1];
    // The image's environment: HOME and the data volume at /var/lib/rabbitmq (fresh, owned by rabbitmq).
    const env = { ...mq.env, HOME: "/var/lib/rabbitmq" };
    const box = new Sandbox("rabbitmq", {
      files: mq.files,
      hostname: host,
      setup: "rm -rf /var/lib/rabbitmq && mkdir -p /var/lib/rabbitmq /var/log/rabbitmq && chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq",
    });
    const ctl = (...args: string[]) => box.exec(["rabbitmqctl", "-q", "-n", node, ...args], { user: "rabbitmq", env, timeoutMs: 60_000 });
    try {
      await box.start({ user: mq.user ?? "rabbitmq", argv: mq.command, env });
      await box.waitFor("rabbitmq boot", async () => (await ctl("await_startup", "--timeout", "5")).code === 0, 120_000);
      // log.console = true: the node logs to stdout (what `docker logs` shows). Debian's
      // /usr/sbin/rabbitmq-server wrapper redirects that stdout to /var/log/rabbitmq/startup_log;
      // the official image runs the upstream script, whose stdout is the container's.
      const stdout = async () => box.log() + (await box.sh("cat /var/log/rabbitmq/startup_log 2>/dev/null || true")).stdout;
      await box.waitFor("startup line on the node's stdout", async () => /Server startup complete|Time to start RabbitMQ/.test(await stdout()), 15_000);
      expect(await stdout()).not.toContain(secretValue("mq_password"));
      const users = (await ctl("list_users", "--no-table-headers")).stdout;
      expect(users).toMatch(new RegExp(`^${confValue(conf, "default_user")}\\b`, "m"));
      expect(users).not.toMatch(/^guest\b/m);
      expect((await ctl("list_vhosts", "--no-table-headers")).stdout.split("\n").map((l) => l.trim())).toContain(confValue(conf, "default_vhost"));
      const auth = await ctl("authenticate_user", confValue(conf, "default_user"), secretValue("mq_password"));
      expect(auth.code).toBe(0);
      expect((await ctl("authenticate_user", confValue(conf, "default_user"), "wrong")).code).not.toBe(0);
      const perms = (await ctl("list_permissions", "-p", confValue(conf, "default_vhost"), "--no-table-headers")).stdout;
      expect(perms).toMatch(new RegExp(`^${confValue(conf, "default_user")}\\s+\\.\\*\\s+\\.\\*\\s+\\.\\*`, "m"));
      expect((await ctl("eval", "application:get_env(rabbit, connection_max).")).stdout.trim()).toBe(`{ok,${confValue(conf, "connection_max")}}`);
      expect((await ctl("eval", "vm_memory_monitor:get_memory_limit().")).stdout.trim()).toBe(confValue(conf, "vm_memory_high_watermark.absolute"));
      // The password is in a private (0600) runtime copy, never in /etc/rabbitmq.
      const copy = await box.sh(`stat -c '%a %U' /var/lib/rabbitmq/webstack-rabbitmq.conf && ! grep -rF '${secretValue("mq_password")}' /etc/rabbitmq`);
      expect(copy.stdout.trim()).toBe("600 rabbitmq");
      const amqp = await box.exec(["python3", "-c", "import socket; s=socket.create_connection(('127.0.0.1', 5672), 3); s.sendall(b'AMQP\\x00\\x00\\x09\\x01'); print(s.recv(8)[:1])"]);
      expect(amqp.stdout.trim()).toBe("b'\\x01'");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- rabbitmq log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });
});
