"""The WSGI application: ``webstack_example.wsgi:application``.

    GET|HEAD /ping           "pong", touches nothing (load balancer check)
    GET  /info               pid and which backends are configured
    POST /hits               insert a row on the primary (also GET /hits?write=1)
    GET  /hits/<id>          read it back from the replica (else the primary)
    GET  /cache              get/set a key; reports whether it was a hit
    GET  /task?x=2&y=3       run tasks.add through Celery, wait up to 10 s
    GET  /pool/fill          check out this process's whole DB pool at once
    GET  /db/hold?s=0.5      hold one database connection for s seconds (at most 5)
    POST /upload[/...]?hold=0  read the whole body, then wait hold seconds (at most 30); its size and sha256
"""

import contextlib
import hashlib
import http
import json
import os
import re
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs, urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.pool

from . import settings

# Dummy identity headers: nginx logs them and then hides them from clients.
SESSION_ID = "demo-session-0001"
USER_ID = "demo-user-0001"
TASK_TIMEOUT = 10  # seconds
CACHE_KEY = "webstack_example:cache-probe"
SCHEMA_LOCK = 0x77656273  # any constant; serialises CREATE TABLE across processes
REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII, no spaces


class Unavailable(Exception):
    """A backend is not configured or not reachable: answer 503."""


# --- per-process resources ---------------------------------------------------
#
# uWSGI and gunicorn import this module in the master and then fork workers.
# A pool or socket created before the fork would be shared by every worker,
# so everything that holds connections is built on first use and keyed by
# pid; a child that inherited a parent's object builds its own.

_lock = threading.Lock()
_resources = {}  # name -> (pid, object)


def per_process(name, factory):
    pid = os.getpid()
    with _lock:
        entry = _resources.get(name)
        if entry is None or entry[0] != pid:
            entry = _resources[name] = (pid, factory())
        return entry[1]


# --- PostgreSQL ----------------------------------------------------------------


def _db_url(role):
    if role == "replica" and settings.DATABASE_REPLICA_URL:
        return settings.DATABASE_REPLICA_URL
    if settings.DATABASE_URL is None:
        raise Unavailable("DATABASE_URL is not set")
    return settings.DATABASE_URL


def _make_pool(url):
    # Defaults only; anything already in the URL wins.
    extra = {"connect_timeout": 5, "application_name": f"webstack_example/{os.getpid()}"}
    given = psycopg2.extensions.parse_dsn(url)
    kwargs = {k: v for k, v in extra.items() if k not in given}
    limit = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
    pool = psycopg2.pool.ThreadedConnectionPool(0, limit, url, **kwargs)
    # minconn=0 so nothing connects until a request needs it.  But psycopg2
    # closes every returned connection while it holds >= minconn idle ones, so
    # with minconn left at 0 nothing would ever be reused.  Raising it now
    # keeps up to DB_POOL_SIZE idle connections and closes the overflow ones,
    # the pool_size/max_overflow semantics the library budgets for.
    pool.minconn = settings.DB_POOL_SIZE
    return pool


def db_pool(role):
    url = _db_url(role)
    # Without a replica URL reads share the primary pool: one budget, not two.
    name = "db:replica" if role == "replica" and settings.DATABASE_REPLICA_URL else "db:primary"
    return per_process(name, lambda: _make_pool(url))


# Errors after which a connection must not go back to the pool.  A read-only
# error on the "primary" means it failed over and is now a standby; dropping
# the connection makes the next one re-run target_session_attrs=read-write.
_BROKEN = (psycopg2.OperationalError, psycopg2.InterfaceError, psycopg2.errors.ReadOnlySqlTransaction)


class _NoPool:
    """DB_POOL_MODE=none (SQLAlchemy's NullPool, or Django): a new connection per use, closed after."""

    def __init__(self, url):
        self.url = url

    def getconn(self):
        given = psycopg2.extensions.parse_dsn(self.url)
        extra = {"connect_timeout": 5, "application_name": f"webstack_example/{os.getpid()}"}
        return psycopg2.connect(self.url, **{k: v for k, v in extra.items() if k not in given})

    def putconn(self, conn, close=False):
        conn.close()


@contextlib.contextmanager
def db_cursor(role):
    pool = db_pool(role) if settings.DB_POOL_MODE == "pooled" else _NoPool(_db_url(role))
    try:
        conn = pool.getconn()
    except psycopg2.pool.PoolError as exc:
        raise Unavailable(f"database pool: {exc}") from exc
    except psycopg2.OperationalError as exc:
        raise Unavailable(f"database unreachable: {exc}") from exc
    broken = False
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except _BROKEN as exc:
        broken = True
        raise Unavailable(f"database: {type(exc).__name__}: {exc}") from exc
    finally:
        # putconn rolls back an unfinished transaction before keeping the
        # connection, or closes it (broken, or beyond DB_POOL_SIZE idle ones).
        pool.putconn(conn, close=broken or bool(conn.closed))


_schema_ready = False


def _ensure_schema(cur):
    if _schema_ready:
        return
    # CREATE TABLE IF NOT EXISTS still races between processes (duplicate
    # pg_type row), so take a transaction-scoped advisory lock first.
    cur.execute("select pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    cur.execute(
        "create table if not exists hits ("
        " id bigserial primary key,"
        " request_id text,"
        " created_at timestamptz default now())"
    )


# inet_server_addr() is NULL over a Unix socket.
SERVER_COLUMNS = "host(inet_server_addr()), inet_server_port(), pg_is_in_recovery()"


def _server(row):
    addr, port, in_recovery = row
    return {"addr": addr, "port": port, "in_recovery": in_recovery}


def hit_create(request_id):
    global _schema_ready
    with db_cursor("primary") as cur:
        _ensure_schema(cur)
        cur.execute(f"insert into hits (request_id) values (%s) returning id, {SERVER_COLUMNS}", (request_id,))
        row = cur.fetchone()
    _schema_ready = True  # only once the transaction has committed
    return 201, {"id": row[0], "role": "primary", "server": _server(row[1:])}


def hit_read(hit_id):
    role = "replica" if settings.DATABASE_REPLICA_URL else "primary"
    with db_cursor(role) as cur:
        try:
            cur.execute(f"select id, request_id, created_at, {SERVER_COLUMNS} from hits where id = %s", (hit_id,))
            row = cur.fetchone()
        except psycopg2.errors.UndefinedTable:
            row = None  # table not created (or not replicated) yet
        if row is None:
            # A replica may simply lag behind the primary.
            cur.connection.rollback()
            cur.execute(f"select {SERVER_COLUMNS}")
            return 404, {"error": "no such hit", "id": hit_id, "role": role, "server": _server(cur.fetchone())}
    return 200, {
        "id": row[0],
        "request_id": row[1],
        "created_at": row[2].isoformat(),
        "role": role,
        "server": _server(row[3:]),
    }


def pool_fill():
    """Hold pool_size + max_overflow connections at once; proves the budget is real."""
    pool = db_pool("primary")
    wanted = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
    conns = []
    try:
        try:
            for _ in range(wanted):
                conns.append(pool.getconn())
        except psycopg2.pool.PoolError as exc:
            raise Unavailable(f"database pool: {exc} after {len(conns)} of {wanted}") from exc
        except psycopg2.OperationalError as exc:
            raise Unavailable(f"database refused connection {len(conns) + 1} of {wanted}: {exc}") from exc
        for conn in conns:
            with conn.cursor() as cur:
                cur.execute("select 1")
                cur.fetchone()
            conn.rollback()
        backend_pids = sorted(conn.info.backend_pid for conn in conns)
    finally:
        for conn in conns:
            pool.putconn(conn, close=bool(conn.closed))
    return 200, {"checked_out": len(conns), "pool_size": settings.DB_POOL_SIZE,
                 "max_overflow": settings.DB_MAX_OVERFLOW, "backend_pids": backend_pids}


def db_hold(query):
    """Hold one connection (from the pool, or a new one without a pool) for a while: the
    connection model's test drives every thread of a process through this at once."""
    try:
        seconds = min(5.0, max(0.0, float(query.get("s", ["0.5"])[0])))
    except ValueError:
        return 400, {"error": "s must be a number of seconds"}
    with db_cursor("primary") as cur:
        cur.execute("select pg_backend_pid(), pg_sleep(%s)", (seconds,))
        backend_pid = cur.fetchone()[0]
    return 200, {"pid": os.getpid(), "thread": threading.get_ident(), "backend_pid": backend_pid, "seconds": seconds}


def upload(environ, query):
    """Read the request body to its end (a slow client's pauses are the servers' to bound), then
    optionally wait: the timeout chain's tests hold a request past the app server's timeout here."""
    try:
        hold = min(30.0, max(0.0, float(query.get("hold", ["0"])[0])))
    except ValueError:
        return 400, {"error": "hold must be a number of seconds"}
    started = time.monotonic()
    digest = hashlib.sha256()
    size = 0
    stream = environ["wsgi.input"]
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    read_seconds = time.monotonic() - started
    time.sleep(hold)
    return 200, {"bytes": size, "sha256": digest.hexdigest(), "read_seconds": round(read_seconds, 3), "hold": hold}


# --- cache -----------------------------------------------------------------------


def _make_cache():
    """Return (backend name, client, the errors that mean "cache unavailable")."""
    url = settings.CACHE_URL
    scheme = urlsplit(url).scheme
    if scheme in ("redis", "rediss"):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return "redis", client, (redis.RedisError, OSError)
    if scheme == "memcached":
        from pymemcache.client.base import PooledClient
        from pymemcache.exceptions import MemcacheError

        # Single server; PooledClient because the plain Client is not thread-safe.
        # default_noreply=False so a failed set() raises instead of vanishing.
        host, _, port = urlsplit(url).netloc.rpartition(":")
        client = PooledClient((host or "localhost", int(port or 11211)),
                              connect_timeout=2, timeout=2, default_noreply=False)
        return "memcached", client, (MemcacheError, OSError)
    raise Unavailable(f"unsupported CACHE_URL scheme {scheme!r}")


def cache_probe():
    if settings.CACHE_URL is None:
        raise Unavailable("CACHE_URL is not set")
    backend, client, errors = per_process("cache", _make_cache)
    try:
        before = client.get(CACHE_KEY)
        value = f"set by pid {os.getpid()} at {time.time():.3f}"
        client.set(CACHE_KEY, value, 60)  # expire=60 for both clients
        after = client.get(CACHE_KEY)
    except errors as exc:
        raise Unavailable(f"cache {backend}: {type(exc).__name__}: {exc}") from exc
    decode = lambda v: v.decode() if isinstance(v, bytes) else v
    return 200, {"backend": backend, "hit": before is not None, "previous": decode(before),
                 "stored": decode(after) == value}


# --- celery ------------------------------------------------------------------------


def run_task(query, request_id):
    try:
        x, y = int(query["x"][0]), int(query["y"][0])
    except (KeyError, ValueError):
        return 400, {"error": "x and y must be integers, e.g. /task?x=2&y=3"}
    if settings.CELERY_BROKER_URL is None:
        raise Unavailable("CELERY_BROKER_URL is not set")
    if settings.CELERY_RESULT_BACKEND is None:
        raise Unavailable("CELERY_RESULT_BACKEND is not set, cannot wait for the result")
    from celery.exceptions import TimeoutError as CeleryTimeout
    from kombu.exceptions import OperationalError as BrokerError
    from redis import RedisError

    from .tasks import add

    started = time.monotonic()
    try:
        # The request id travels as a task header: the worker's log prints it beside the task id.
        result = add.apply_async((x, y), headers={"request_id": request_id})
    except BrokerError as exc:
        raise Unavailable(f"celery broker: {exc}") from exc
    try:
        value = result.get(timeout=TASK_TIMEOUT)
    except CeleryTimeout:
        return 504, {"error": f"no result within {TASK_TIMEOUT}s (is a worker running?)", "task_id": result.id}
    except (OSError, BrokerError, RedisError) as exc:  # a worker's own errors stay 500s
        raise Unavailable(f"celery result backend: {type(exc).__name__}: {exc}") from exc
    return 200, {"task_id": result.id, "result": value, "seconds": round(time.monotonic() - started, 3)}


# --- routing -------------------------------------------------------------------------


def route(environ, method, path, request_id):
    """Return (status, body); body is a dict (JSON) or bytes (text)."""
    if path == "/ping":
        return (200, b"pong\n") if method in ("GET", "HEAD") else _not_allowed("GET, HEAD")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if method not in ("GET", "HEAD", "POST"):
        return _not_allowed("GET, HEAD, POST")
    if path == "/info":
        return 200, {"pid": os.getpid(), "python": sys.version.split()[0],
                     "server": environ.get("SERVER_SOFTWARE"), "config": settings.describe()}
    if path == "/hits":
        if method == "POST" or query.get("write") == ["1"]:
            return hit_create(request_id)
        return 400, {"error": "use POST /hits or GET /hits?write=1"}
    if path.startswith("/hits/") and method != "POST":
        hit_id = path[len("/hits/"):]
        if not hit_id.isdigit():
            return 404, {"error": "hit ids are integers"}
        return hit_read(int(hit_id))
    if path == "/cache":
        return cache_probe()
    if path == "/task":
        return run_task(query, request_id)
    if path == "/pool/fill":
        return pool_fill()
    if path == "/db/hold":
        return db_hold(query)
    if path == "/upload" or path.startswith("/upload/"):
        return upload(environ, query) if method == "POST" else _not_allowed("POST")
    return 404, {"error": "not found", "path": path}


def _not_allowed(allow):
    return 405, {"error": "method not allowed", "allow": allow}


def application(environ, start_response):
    started = time.monotonic()
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "") or "/"
    request_id = environ.get("HTTP_X_REQUEST_ID", "")
    if not REQUEST_ID_RE.fullmatch(request_id):
        request_id = uuid.uuid4().hex  # missing or unsafe to echo: make one up
    try:
        status, body = route(environ, method, path, request_id)
    except Unavailable as exc:
        status, body = 503, {"error": settings.scrub(exc)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        status, body = 500, {"error": settings.scrub(f"{type(exc).__name__}: {exc}")}

    headers = [("X-Request-ID", request_id), ("X-Session-ID", SESSION_ID), ("X-User-ID", USER_ID)]
    if status == 405:
        headers.append(("Allow", body["allow"]))
    if isinstance(body, bytes):
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    else:
        headers.append(("Content-Type", "application/json"))
        body = json.dumps(body).encode() + b"\n"
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{status} {http.HTTPStatus(status).phrase}", headers)
    # One line per request on stderr; uWSGI and gunicorn both collect it.
    sys.stderr.write(
        f"request_id={request_id} method={method} path={path} status={status} "
        f"ms={(time.monotonic() - started) * 1000:.1f} pid={os.getpid()}\n"
    )
    sys.stderr.flush()
    return [b""] if method == "HEAD" else [body]
