/**
 * The stats exporter: one small Python 3 script (standard library only) that turns uWSGI's JSON stats
 * server, memcached's `stats` command and PgBouncer's admin console (pgbouncer-probe.ts) into
 * Prometheus' text format. Debian 12 packages no exporter for the first two, and none that reads PgBouncer 1.18. It works as the blackbox prober does: Prometheus asks `/probe?module=uwsgi&target=host:port`
 * and the script reads that target then and there, so one exporter serves every node of the stack.
 * It reads only the targets listed in its rendered file: nobody on the network can point it elsewhere.
 * `GET /containers` reads every container's memory from the host's cgroup tree (mounted read-only at
 * CGROUP_ROOT), at the cgroup parent each container got from the model (plan/cgroups.ts).
 */

export const STATS_EXPORTER_DIR = "/etc/webstack-exporter";
export const STATS_EXPORTER_SCRIPT = `${STATS_EXPORTER_DIR}/exporter.py`;
export const STATS_EXPORTER_TARGETS = `${STATS_EXPORTER_DIR}/targets.json`;

/** Where the exporter's container sees the host's /sys/fs/cgroup. */
export const CGROUP_ROOT = "/host/sys/fs/cgroup";

export type StatsModule = "uwsgi" | "memcached" | "pgbouncer";

/** How the exporter logs in to a PgBouncer's console: the user, and the variable of its environment holding the password. */
export interface ConsoleLogin {
  readonly user: string;
  readonly passwordEnv: string;
}

/** A container whose memory the exporter reads: its key, Docker name, cgroup parent's directory and model limit. */
export interface CgroupTarget {
  readonly key: string;
  readonly name: string;
  /** Relative to a hierarchy's root (v2: the root; v1: its memory controller). */
  readonly dir: string;
  readonly limitBytes: number;
}

/**
 * The targets (host:port) the exporter may read, by module, as JSON; each PgBouncer's login (the
 * name of the variable with the password, never the password), the pgbouncer keys only when there is
 * one; and the containers whose memory it reads.
 */
export function renderStatsExporterTargets(
  targets: Readonly<Record<"uwsgi" | "memcached", readonly string[]>> & { readonly pgbouncer?: readonly string[] },
  logins: Readonly<Record<string, ConsoleLogin>>,
  containers: readonly CgroupTarget[],
): string {
  const pgbouncer = targets.pgbouncer && targets.pgbouncer.length > 0 ? { pgbouncer: [...targets.pgbouncer], logins } : {};
  const list = containers.map((c) => ({ key: c.key, name: c.name, dir: c.dir, limit_bytes: c.limitBytes }));
  return `${JSON.stringify({ uwsgi: [...targets.uwsgi], memcached: [...targets.memcached], ...pgbouncer, containers: { root: CGROUP_ROOT, list } }, null, 2)}\n`;
}

const SCRIPT = String.raw`#!/usr/bin/env python3
# Rendered by cdktf-webstack. Edit the stack, not this file.
# GET /probe?module=uwsgi|memcached|pgbouncer&target=host:port -> that target's metrics, Prometheus text format 0.0.4.
# A target that does not answer gives <module>_up 0 (HTTP 200), as the blackbox exporter's probe_success 0.
# GET /containers -> every container's memory from its cgroup (v1 or v2, found at read time).
import argparse, json, os, re, socket, sys, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TIMEOUT = 5.0
UWSGI_STATUSES = ("idle", "busy", "cheap", "pause", "sig")


class Metrics:
    # The text format wants each family's samples together, after its HELP and TYPE: samples added
    # in turns (per socket, per pool) are grouped by family here, families in the order first seen.
    def __init__(self):
        self.families = {}

    def add(self, name, kind, help_text, value, labels=None):
        if value is None:  # a field this version of the daemon does not report
            return
        lines = self.families.setdefault(name, ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)])
        label_text = ""
        if labels:
            label_text = "{" + ",".join('%s="%s"' % (k, str(v).replace("\\", "\\\\").replace('"', '\\"')) for k, v in labels) + "}"
        lines.append("%s%s %s" % (name, label_text, float(value) if isinstance(value, float) else int(value)))

    def text(self):
        return "\n".join(line for lines in self.families.values() for line in lines) + "\n"


def split_target(target):
    host, _, port = target.rpartition(":")
    return host, int(port)


def probe_uwsgi(target, m, conf):
    # The stats server answers HTTP (stats-http) with one JSON document.
    with urllib.request.urlopen("http://%s/" % target, timeout=TIMEOUT) as r:
        stats = json.load(r)
    workers = stats.get("workers", [])
    m.add("uwsgi_up", "gauge", "1 if the stats server answered", 1)
    m.add("uwsgi_listen_queue", "gauge", "Connections waiting in the first socket's listen queue", stats.get("listen_queue", 0))
    # uWSGI 2.0 logs a full queue but no longer counts it here: the per-socket queue and backlog below tell it.
    m.add("uwsgi_listen_queue_errors_total", "counter", "uWSGI's listen_queue_errors (not counted by uWSGI 2.0)", stats.get("listen_queue_errors", 0))
    for s in stats.get("sockets", []):
        labels = [("socket", s.get("name", ""))]
        m.add("uwsgi_socket_listen_queue", "gauge", "Connections waiting in the socket's listen queue", s.get("queue", 0), labels)
        m.add("uwsgi_socket_listen_queue_max", "gauge", "The socket's listen backlog (uWSGI's listen)", s.get("max_queue", 0), labels)
    for status in UWSGI_STATUSES:
        m.add("uwsgi_workers", "gauge", "Workers by status", sum(1 for w in workers if w.get("status") == status), [("status", status)])
    cores = [c for w in workers for c in w.get("cores", [])]
    m.add("uwsgi_cores", "gauge", "Request slots: workers x threads", len(cores))
    m.add("uwsgi_cores_busy", "gauge", "Request slots serving a request now", sum(1 for c in cores if c.get("in_request")))
    m.add("uwsgi_requests_total", "counter", "Requests served by the workers", sum(w.get("requests", 0) for w in workers))
    m.add("uwsgi_exceptions_total", "counter", "Exceptions raised by the app in the workers", sum(w.get("exceptions", 0) for w in workers))
    m.add("uwsgi_harakiri_total", "counter", "Workers killed by harakiri", sum(w.get("harakiri_count", 0) for w in workers))
    # respawn_count counts every spawn of the worker's slot, the first one included.
    m.add("uwsgi_worker_respawns_total", "counter", "Worker respawns after their first start", sum(max(0, w.get("respawn_count", 1) - 1) for w in workers))


def memcached_stats(target):
    with socket.create_connection(split_target(target), timeout=TIMEOUT) as s:
        s.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("memcached closed the connection")
            buf += chunk
        s.sendall(b"quit\r\n")
    out = {}
    for line in buf.decode("ascii", "replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def probe_memcached(target, m, conf):
    st = memcached_stats(target)
    num = lambda key: None if key not in st else float(st[key]) if "." in st[key] else int(st[key])
    m.add("memcached_up", "gauge", "1 if memcached answered stats", 1)
    m.add("memcached_current_connections", "gauge", "Open connections", num("curr_connections"))
    m.add("memcached_max_connections", "gauge", "Connection limit (-c)", num("max_connections"))
    m.add("memcached_connections_total", "counter", "Connections opened", num("total_connections"))
    m.add("memcached_connections_rejected_total", "counter", "Connections refused at the limit", num("rejected_connections"))
    m.add("memcached_connections_listener_disabled_total", "counter", "Times the limit stopped the listener", num("listen_disabled_num"))
    m.add("memcached_current_bytes", "gauge", "Bytes of the items stored", num("bytes"))
    m.add("memcached_limit_bytes", "gauge", "Item memory limit (-m)", num("limit_maxbytes"))
    m.add("memcached_current_items", "gauge", "Items stored", num("curr_items"))
    m.add("memcached_items_evicted_total", "counter", "Items evicted to make room", num("evictions"))
    for status, key in (("hit", "get_hits"), ("miss", "get_misses")):
        m.add("memcached_commands_total", "counter", "get commands by result", num(key), [("command", "get"), ("status", status)])
    m.add("memcached_uptime_seconds", "gauge", "Seconds since memcached started", num("uptime"))


def probe_pgbouncer(target, m, conf):
    # Beside this script, rendered only where the stack has a pooler.
    import pgbouncer_probe
    login = conf["logins"][target]
    pgbouncer_probe.probe(target, login["user"], os.environ[login["passwordEnv"]], m)


PROBES = {"uwsgi": probe_uwsgi, "memcached": probe_memcached, "pgbouncer": probe_pgbouncer}
# The container's own cgroup below its parent: <id> (cgroupfs) or docker-<id>.scope (systemd).
CONTAINER_CGROUP = re.compile(r"^(docker-)?[0-9a-f]{64}(\.scope)?$")
UNLIMITED = 1 << 62  # v1 writes "no limit" as about 2^63, rounded to the page size


def read_value(path):
    with open(path) as f:
        v = f.read().strip()
    return None if v == "max" else int(v)


def stat_value(path, key):
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    return 0


def container_cgroup(base, rel):
    """The container's own cgroup under its parent; the newest if a removed one lingers."""
    parent = os.path.join(base, rel)
    try:
        found = [os.path.join(parent, d) for d in os.listdir(parent) if CONTAINER_CGROUP.match(d)]
    except OSError:
        return None
    return max(found, key=lambda p: os.stat(p).st_ctime) if found else None


def read_containers(spec, m):
    root = spec["root"]
    v2 = os.path.exists(os.path.join(root, "cgroup.controllers"))
    base = root if v2 else os.path.join(root, "memory")
    m.add("webstack_cgroup_version", "gauge", "The host's cgroup version (1 or 2)", 2 if v2 else 1)
    for c in spec["list"]:
        labels = [("container", c["key"]), ("name", c["name"])]
        m.add("webstack_container_memory_model_limit_bytes", "gauge", "The container's memoryMiB in the model", c["limit_bytes"], labels)
        path = container_cgroup(base, c["dir"])
        try:
            if path is None:
                raise FileNotFoundError(c["dir"])
            if v2:
                usage, limit = read_value(os.path.join(path, "memory.current")), read_value(os.path.join(path, "memory.max"))
                inactive = stat_value(os.path.join(path, "memory.stat"), "inactive_file")
            else:
                usage, limit = read_value(os.path.join(path, "memory.usage_in_bytes")), read_value(os.path.join(path, "memory.limit_in_bytes"))
                inactive = stat_value(os.path.join(path, "memory.stat"), "total_inactive_file")
        except OSError as e:  # not running, or removed between the listing and the read
            m.add("webstack_container_cgroup_found", "gauge", "1 if the container's cgroup was found and read", 0, labels)
            sys.stderr.write("container %s: no cgroup under %s (%s)\n" % (c["key"], c["dir"], e))
            continue
        m.add("webstack_container_cgroup_found", "gauge", "1 if the container's cgroup was found and read", 1, labels)
        m.add("container_memory_usage_bytes", "gauge", "Memory the cgroup charges, page cache included", usage, labels)
        # What the OOM killer weighs: the inactive file cache is reclaimed first (cAdvisor's working set).
        m.add("container_memory_working_set_bytes", "gauge", "Usage less the inactive file cache", max(0, usage - inactive), labels)
        if limit is not None and limit < UNLIMITED:
            m.add("container_spec_memory_limit_bytes", "gauge", "The cgroup's memory limit", limit, labels)


def make_handler(allowed):
    class Handler(BaseHTTPRequestHandler):
        def reply(self, code, body, content_type="text/plain; charset=utf-8"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/-/healthy":
                return self.reply(200, "OK\n")
            if url.path == "/containers":
                m = Metrics()
                started = time.monotonic()
                read_containers(allowed["containers"], m)
                m.add("webstack_exporter_probe_duration_seconds", "gauge", "Seconds the probe took", round(time.monotonic() - started, 6))
                return self.reply(200, m.text(), "text/plain; version=0.0.4; charset=utf-8")
            if url.path != "/probe":
                return self.reply(404, "GET /containers, or /probe?module=uwsgi|memcached|pgbouncer&target=host:port\n")
            q = urllib.parse.parse_qs(url.query)
            module, target = q.get("module", [""])[0], q.get("target", [""])[0]
            if module not in PROBES:
                return self.reply(400, "unknown module %r\n" % module)
            if target not in allowed.get(module, []):
                return self.reply(403, "target %r is not one of this stack's %s targets\n" % (target, module))
            m = Metrics()
            started = time.monotonic()
            try:
                PROBES[module](target, m, allowed)
            except Exception as e:  # the target is down or answered garbage: report it, keep serving
                m = Metrics()
                m.add("%s_up" % module, "gauge", "1 if the target answered", 0)
                sys.stderr.write("probe %s %s failed: %s\n" % (module, target, e))
            m.add("webstack_exporter_probe_duration_seconds", "gauge", "Seconds the probe took", round(time.monotonic() - started, 6))
            self.reply(200, m.text(), "text/plain; version=0.0.4; charset=utf-8")

        def log_message(self, fmt, *args):
            pass  # one line per scrape would drown the container's log

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--targets", required=True)
    a = p.parse_args()
    with open(a.targets) as f:
        allowed = json.load(f)
    server = ThreadingHTTPServer(("0.0.0.0", a.port), make_handler(allowed))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
`;

/** The exporter script; the same for every stack (what it reads is in the targets file). */
export function renderStatsExporterScript(): string {
  return SCRIPT;
}
