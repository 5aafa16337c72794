"""Configuration, read once from the environment the library sets.

Every variable is optional.  An unset (or empty) variable disables the
endpoints that need it; those answer 503 instead of failing at import time,
so one image can run against any subset of the stack.

    DATABASE_URL           libpq URL of the primary; may list several hosts
                           with ?target_session_attrs=read-write
    DATABASE_REPLICA_URL   libpq URL used for reads (default: DATABASE_URL)
    DB_POOL_SIZE           idle connections kept per process      (default 5)
    DB_MAX_OVERFLOW        extra connections allowed per process  (default 0)
    DB_POOL_MODE           "pooled" (default) or "none": a connection per use
    CACHE_URL              redis://:pw@host:6379/0 or memcached://host:11211
    CELERY_BROKER_URL      amqp://user:pw@host:5672/vhost or redis://:pw@host:6379/1
    CELERY_RESULT_BACKEND  rpc:// or a redis URL
    SEARCH_URL             only echoed by /info
"""

import os
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit


def _str(name):
    value = os.environ.get(name, "").strip()
    return value or None


def _int(name, default):
    raw = _str(name)
    if raw is None:
        return default
    value = int(raw)  # a malformed number is a deployment bug: fail loudly
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


DATABASE_URL = _str("DATABASE_URL")
DATABASE_REPLICA_URL = _str("DATABASE_REPLICA_URL")
DB_POOL_SIZE = _int("DB_POOL_SIZE", 5)
DB_MAX_OVERFLOW = _int("DB_MAX_OVERFLOW", 0)
DB_POOL_MODE = _str("DB_POOL_MODE") or "pooled"
if DB_POOL_MODE not in ("pooled", "none"):
    raise ValueError(f"DB_POOL_MODE must be 'pooled' or 'none', got {DB_POOL_MODE!r}")
CACHE_URL = _str("CACHE_URL")
CELERY_BROKER_URL = _str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = _str("CELERY_RESULT_BACKEND")
SEARCH_URL = _str("SEARCH_URL")

_URLS = {
    "DATABASE_URL": DATABASE_URL,
    "DATABASE_REPLICA_URL": DATABASE_REPLICA_URL,
    "CACHE_URL": CACHE_URL,
    "CELERY_BROKER_URL": CELERY_BROKER_URL,
    "CELERY_RESULT_BACKEND": CELERY_RESULT_BACKEND,
    "SEARCH_URL": SEARCH_URL,
}


def _split_userinfo(url):
    """Return (parts, user, password, hosts) without using .port/.hostname.

    urllib's accessors choke on libpq multi-host netlocs ("h1:5432,h2:5432"),
    so the userinfo is split off by hand.
    """
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return parts, (user if at else None), (password if colon else None), hosts


def redact(url):
    """The URL with any password (userinfo or ?password=) replaced by ***."""
    if url is None:
        return None
    parts, user, password, hosts = _split_userinfo(url)
    if password is None and "password" not in parts.query:
        return url  # nothing to hide; urlunsplit would turn rpc:// into rpc:
    netloc = parts.netloc
    if password is not None:
        netloc = f"{user}:***@{hosts}"
    query = parts.query
    if "password" in query:
        query = urlencode(
            [(k, "***" if k == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)],
            safe="*,",
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _secrets():
    found = set()
    for url in _URLS.values():
        if url is None:
            continue
        parts, _, password, _ = _split_userinfo(url)
        if password:
            found.update({password, unquote(password)})
        for key, value in parse_qsl(parts.query):
            if key == "password" and value:
                found.add(value)
    # longest first, so a password that contains another one is fully hidden
    return sorted(found, key=len, reverse=True)


_SECRETS = _secrets()


def scrub(text):
    """Hide configured passwords in text we are about to return or log.

    Driver error messages normally omit passwords, but some echo the URL they
    were given; this is the cheap belt-and-braces.
    """
    text = str(text)
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def describe():
    """What /info reports: which pieces are configured, passwords hidden."""
    return {
        name.lower(): {"configured": url is not None, "url": redact(url)}
        for name, url in _URLS.items()
    } | {"db_pool": {"pool_size": DB_POOL_SIZE, "max_overflow": DB_MAX_OVERFLOW}}
