/**
 * The stats exporter's `pgbouncer` module: a Python 3 module (standard library only) that logs in to
 * PgBouncer's admin console with SCRAM-SHA-256 over the PostgreSQL protocol and reads SHOW POOLS,
 * SHOW DATABASES and SHOW LISTS. One connection per probe, closed after it: a restarted PgBouncer is
 * read again at the next scrape. (Debian 12's prometheus-pgbouncer-exporter 1.7 cannot serve
 * PgBouncer 1.18: it reads SHOW STATS' total_requests, gone since PgBouncer 1.8, and dies at start
 * with a KeyError; and it keeps the one connection it opened at start.)
 */

export const PGBOUNCER_PROBE_MODULE = "pgbouncer_probe";
/** The PgBouncer user the exporter logs in as: listed in `stats_users`, so SHOW only. */
export const PGBOUNCER_STATS_USER = "webstack_stats";

const MODULE = String.raw`# Rendered by cdktf-webstack. Edit the stack, not this file.
# PgBouncer's admin console: PostgreSQL protocol 3.0, SCRAM-SHA-256 login, simple queries (SHOW only).
import base64, hashlib, hmac, os, socket, struct

TIMEOUT = 5.0
ADMIN_DB = "pgbouncer"


class ConsoleError(Exception):
    pass


class Console:
    def __init__(self, host, port, user, password):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.settimeout(TIMEOUT)
        params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in (("user", user), ("database", ADMIN_DB), ("application_name", "webstack-exporter")))
        body = struct.pack("!I", 196608) + params + b"\0"
        try:
            self.sock.sendall(struct.pack("!I", len(body) + 4) + body)
            self.login(password)
        except BaseException:
            self.sock.close()  # a refused login: no connection left behind until the next scrape
            raise

    def close(self):
        try:
            self.send(b"X", b"")
        finally:
            self.sock.close()

    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConsoleError("PgBouncer closed the connection")
            data += chunk
        return data

    def read(self):
        head = self.recv_exact(5)
        return head[:1], self.recv_exact(struct.unpack("!I", head[1:])[0] - 4)

    def send(self, kind, body):
        self.sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)

    @staticmethod
    def error_text(body):
        fields = dict((f[:1], f[1:].decode("utf-8", "replace")) for f in body.split(b"\0") if f)
        return "%s: %s" % (fields.get(b"S", "ERROR"), fields.get(b"M", "?"))

    def login(self, password):
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=,r=" + nonce
        salted = auth = None
        while True:
            kind, body = self.read()
            if kind == b"E":
                raise ConsoleError(self.error_text(body))
            if kind == b"Z":
                return
            if kind != b"R":
                continue  # ParameterStatus, BackendKeyData, notices
            code = struct.unpack("!I", body[:4])[0]
            if code == 10:  # SASL: the mechanisms offered
                if b"SCRAM-SHA-256" not in body[4:].split(b"\0"):
                    raise ConsoleError("PgBouncer offers no SCRAM-SHA-256")
                first = ("n,," + first_bare).encode()
                self.send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
            elif code == 11:  # server-first-message
                server_first = body[4:].decode()
                attrs = dict(a.split("=", 1) for a in server_first.split(","))
                if not attrs["r"].startswith(nonce):
                    raise ConsoleError("SCRAM: the server's nonce does not extend ours")
                salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
                client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
                final_bare = "c=biws,r=" + attrs["r"]
                auth = ",".join((first_bare, server_first, final_bare)).encode()
                signature = hmac.new(hashlib.sha256(client_key).digest(), auth, hashlib.sha256).digest()
                proof = bytes(a ^ b for a, b in zip(client_key, signature))
                self.send(b"p", (final_bare + ",p=" + base64.b64encode(proof).decode()).encode())
            elif code == 12:  # server-final-message: the server must prove it knows the password too
                server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
                expected = base64.b64encode(hmac.new(server_key, auth, hashlib.sha256).digest()).decode()
                if body[4:].decode() != "v=" + expected:
                    raise ConsoleError("SCRAM: wrong server signature")
            elif code != 0:
                raise ConsoleError("authentication request %d is not SCRAM" % code)

    def show(self, what):
        self.send(b"Q", ("SHOW %s;" % what).encode() + b"\0")
        names, rows, error = [], [], None
        while True:
            kind, body = self.read()
            if kind == b"T":
                count, pos = struct.unpack("!H", body[:2])[0], 2
                for _ in range(count):
                    end = body.index(b"\0", pos)
                    names.append(body[pos:end].decode())
                    pos = end + 1 + 18
            elif kind == b"D":
                values, pos = [], 2
                for _ in range(struct.unpack("!H", body[:2])[0]):
                    n = struct.unpack("!i", body[pos:pos + 4])[0]
                    pos += 4
                    values.append(None if n < 0 else body[pos:pos + n].decode())
                    pos += max(n, 0)
                rows.append(dict(zip(names, values)))
            elif kind == b"E":
                error = self.error_text(body)
            elif kind == b"Z":
                if error:
                    raise ConsoleError(error)
                return rows


def number(value):
    return None if value is None or not value.lstrip("-").isdigit() else int(value)


POOL_GAUGES = (
    ("cl_active", "client_active_connections", "Clients linked to a server connection"),
    ("cl_waiting", "client_waiting_connections", "Clients that sent a query and wait for a server connection"),
    ("sv_active", "server_active_connections", "Server connections linked to a client"),
    ("sv_idle", "server_idle_connections", "Server connections idle and ready"),
    ("sv_used", "server_used_connections", "Server connections idle longer than server_check_delay"),
    ("sv_tested", "server_tested_connections", "Server connections being tested"),
    ("sv_login", "server_login_connections", "Server connections logging in"),
)
DATABASE_GAUGES = (
    ("pool_size", "pool_size", "default_pool_size of the database"),
    ("reserve_pool", "reserve_pool_size", "reserve_pool_size of the database"),
    ("max_connections", "max_connections", "max_db_connections of the database (0: no cap)"),
    ("current_connections", "current_connections", "Server connections of the database, all users"),
)


def probe(target, user, password, m):
    host, _, port = target.rpartition(":")
    console = Console(host, int(port), user, password)
    try:
        pools, databases, lists = console.show("POOLS"), console.show("DATABASES"), console.show("LISTS")
    finally:
        console.close()
    m.add("pgbouncer_up", "gauge", "1 if PgBouncer's admin console answered", 1)
    # Each family's samples in one group, as the text format asks.
    pools = [(r, [("database", r["database"]), ("user", r["user"])]) for r in pools if r["database"] != ADMIN_DB]
    for column, name, text in POOL_GAUGES:
        for row, labels in pools:
            m.add("pgbouncer_pools_" + name, "gauge", text, number(row.get(column)), labels)
    for row, labels in pools:
        wait = (number(row.get("maxwait")) or 0) + (number(row.get("maxwait_us")) or 0) / 1e6
        m.add("pgbouncer_pools_client_maxwait_seconds", "gauge", "Longest wait of a client for a server connection now", round(wait, 6), labels)
    databases = [r for r in databases if r["name"] != ADMIN_DB]
    for column, name, text in DATABASE_GAUGES:
        for row in databases:
            m.add("pgbouncer_databases_" + name, "gauge", text, number(row.get(column)), [("database", row["name"])])
    items = dict((row["list"], number(row["items"])) for row in lists)
    m.add("pgbouncer_used_clients", "gauge", "Client connections in use (SHOW LISTS), the console's included", items.get("used_clients"))
    m.add("pgbouncer_used_servers", "gauge", "Server connections in use (SHOW LISTS)", items.get("used_servers"))
`;

export function renderPgbouncerProbe(): string {
  return MODULE;
}
