/** A Database's `parameters`, checked by PostgreSQL 15: they take effect, a misspelled name or a bad value stops it at start. */
import { container } from "./harness";
import { dbStack, itWithPostgres, psqlSocket, startPostgres, waitReady } from "./postgres-helpers";

const primaryWith = (parameters: Record<string, string | number | boolean>) => container(dbStack("pgparams", "127.0.0.0/16", 0, 0, { parameters }), "db-primary");

describe("Database parameters, checked by PostgreSQL 15", () => {
  itWithPostgres("they take effect (SHOW), and pg_file_settings reports no error", async () => {
    const primary = primaryWith({ idle_in_transaction_session_timeout: "5min", deadlock_timeout: 2000, log_connections: true, "pg_stat_statements.max": 2000, application_name: "it's" });
    const box = await startPostgres(primary);
    try {
      // On TCP: the first boot's temporary server (initdb, init.sql) listens on the socket only.
      await waitReady(box, primary.address);
      const show = async (name: string) => (await psqlSocket(box, `SHOW ${name}`)).stdout.trim();
      expect(await show("idle_in_transaction_session_timeout")).toBe("5min");
      expect(await show("deadlock_timeout")).toBe("2s");
      expect(await show("log_connections")).toBe("on");
      expect(await show("pg_stat_statements.max")).toBe("2000");
      // A quote in a value survives the file's quoting (application_name itself is each client's own).
      expect((await psqlSocket(box, "SELECT setting || '|' || applied FROM pg_file_settings WHERE name = 'application_name'")).stdout.trim()).toBe("it's|true");
      expect((await psqlSocket(box, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL")).stdout.trim()).toBe("0");
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- postgres log ---\n${box.log()}`);
    } finally {
      await box.stop();
    }
  });

  for (const [what, parameters, message] of [
    ["a name it does not know", { idle_in_transaction_session_timout: "5min" }, /unrecognized configuration parameter "idle_in_transaction_session_timout"/],
    ["a bad value", { deadlock_timeout: "soon" }, /invalid value for parameter "deadlock_timeout": "soon"/],
  ] as const) {
    itWithPostgres(`${what} stops it at start`, async () => {
      const box = await startPostgres(primaryWith(parameters));
      try {
        await box.waitFor("the start to fail", async () => message.test(box.log()), 120_000);
        expect((await box.exec(["pg_isready", "-q", "-h", "/var/run/postgresql"], { user: "postgres" })).code).not.toBe(0);
      } finally {
        await box.stop();
      }
    });
  }
});
