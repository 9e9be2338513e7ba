"""Connecting to Redis and surviving its outages.

Every call the engine makes goes through :func:`call`, which retries on connection
loss, timeouts (a paused server), LOADING (a restarted server reading its data) and BUSY
(a script or function past Redis's busy threshold: the command did not run) with
capped exponential backoff until a deadline, so a worker never spins while Redis is down
and never gives up on a short outage. Errors that retrying cannot fix (a wrong password,
a bad command) become :class:`~engine.errors.WordCountError` with a message for people.
"""

from __future__ import annotations

import dataclasses
import random
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import redis
import redis.exceptions as rex

from engine import cluster_url, sentinel_url
from engine.errors import ConfigError, RedisAuthError, RedisUnavailableError

T = TypeVar("T")
DEFAULT_DEADLINE_S = 60.0
SOCKET_TIMEOUT_S = 5.0
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 1.0
_RETRYABLE = (rex.ConnectionError, rex.TimeoutError)
_abort: Exception | None = None


def abort_retries(error: Exception | None) -> None:
    """Make every retry loop of this process raise ``error`` at its next retry (``None``
    clears it): a supervisor that knows Redis will not come back stops the waiting."""
    global _abort
    _abort = error


@dataclasses.dataclass(frozen=True)
class RedisAddress:
    """What a Redis URL says, checked: where the server is, which database, who logs in."""

    scheme: str
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    path: str = ""
    """The socket path of a ``unix://`` URL."""

    def shown(self) -> str:
        """The URL without its password, for messages."""
        user = self.username or ""
        login = f"{user}:***@" if self.password is not None else (f"{user}@" if user else "")
        if self.scheme == "unix":
            return f"unix://{login}{self.path}" + (f"?db={self.db}" if self.db else "")
        return f"{self.scheme}://{login}{self.host}:{self.port}/{self.db}"


_URL_FORM = (
    "redis://[[user]:password@]host:port[/db] (or rediss://..., unix:///path.sock, "
    "redis+sentinel://..., redis+cluster://host:port[,host:port...])"
)


def parse_url(url: str) -> RedisAddress:
    """Check a Redis URL and take it apart; the one place URLs are read.

    redis-py accepts or crashes on some mistakes in ways a user cannot act on: a port that
    is not a number raises a bare ValueError, and a database path that is not a number
    (``/abc``) silently means database 0. Each mistake here is a ConfigError naming it.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"invalid Redis URL {_redact_text(url)!r}: use {_URL_FORM}")
    login, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = login.partition(":")
    username = urllib.parse.unquote(user) or None
    secret = urllib.parse.unquote(password) if has_password else None
    shown = _redact_text(url)
    query = urllib.parse.parse_qs(parts.query)
    if scheme == "unix":
        if not parts.path:
            raise ConfigError(f"invalid Redis URL {shown!r}: give the socket path, unix:///path")
        db = _db_number(query.get("db", ["0"])[0], shown)
        return RedisAddress(scheme, "", 0, db, username, secret, parts.path)
    host, port = _host_port(hostport, shown)
    db_text = parts.path.lstrip("/") or query.get("db", ["0"])[0]
    return RedisAddress(scheme, host, port, _db_number(db_text, shown), username, secret)


def _host_port(hostport: str, shown: str) -> tuple[str, int]:
    if hostport.startswith("["):  # an IPv6 literal: [::1]:6379
        host, _, rest = hostport[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise ConfigError(f"invalid Redis URL {shown!r}: no host; use {_URL_FORM}")
    if not port_text:
        return host, 6379
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(
            f"invalid Redis URL {shown!r}: port {port_text!r} is not a number from 1 to 65535"
        )
    return host, int(port_text)


def _db_number(text: str, shown: str) -> int:
    if not text.isdigit():
        raise ConfigError(
            f"invalid Redis URL {shown!r}: database {text!r} is not a number; "
            "end the URL with /0, /1, ... or nothing (database 0)"
        )
    return int(text)


def _redact_text(url: str) -> str:
    """The URL with anything between ``:`` and ``@`` in its login starred, without parsing
    the rest (which may be what is wrong)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    netloc, slash, tail = rest.partition("/")
    login, at, hostport = netloc.rpartition("@")
    if not at or ":" not in login:
        return url
    user = login.partition(":")[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    if sentinel_url.is_sentinel_url(url):
        return sentinel_url.redact(url)
    if cluster_url.is_cluster_url(url):
        return cluster_url.redact(url)
    return _redact_text(url)


def connect(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs, with credentials
    (``redis+sentinel://``: see :mod:`engine.sentinel_url`; ``redis+cluster://``:
    :mod:`engine.cluster_url`)."""
    if sentinel_url.is_sentinel_url(url):
        return sentinel_url.connect(url, socket_timeout=socket_timeout)
    if cluster_url.is_cluster_url(url):
        return cluster_url.connect(url, socket_timeout=socket_timeout)
    address = parse_url(url)
    try:
        return redis.Redis.from_url(
            url,
            db=address.db,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=0,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {address.shown()!r}: {exc}") from exc


def describe(client: redis.Redis) -> str:
    """Where a client points, for messages, without the password."""
    kwargs = client.connection_pool.connection_kwargs
    if (via_sentinel := sentinel_url.describe(client)) is not None:
        return via_sentinel
    if (cluster := cluster_url.describe(client)) is not None:
        return cluster
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def call(
    client: redis.Redis,
    operation: Callable[[], T],
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds, retrying transient failures until the deadline."""
    give_up = time.monotonic() + deadline_s
    delay = _BACKOFF_FIRST_S
    while True:
        failure: Exception
        try:
            return operation()
        except rex.AuthenticationError as exc:
            raise auth_error(client, exc) from exc
        except (rex.RedisClusterException, rex.ClusterError, rex.TryAgainError) as exc:
            if _refused_login(exc.__cause__):
                raise auth_error(client, exc) from exc
            if not cluster_url.is_transient(exc):
                raise
            failure = exc
        except rex.ResponseError as exc:
            if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
                raise auth_error(client, exc) from exc
            if not is_busy(exc):
                raise
            failure = exc
        except _RETRYABLE as exc:
            failure = exc
        # A transient refusal (connection lost, timeout, LOADING, BUSY): wait, try again.
        if _abort is not None:
            raise _abort from failure
        if time.monotonic() + delay > give_up:
            raise RedisUnavailableError(
                f"Redis at {describe(client)} did not answer for {deadline_s:.0f} s "
                f"(last error: {failure}); check that it is running and reachable"
            ) from failure
        if on_retry is not None:
            on_retry(failure)
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, _BACKOFF_CAP_S)


def _refused_login(exc: BaseException | None) -> bool:
    """A cluster client that could reach no node because each refused the login."""
    text = str(exc)
    return isinstance(exc, rex.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text


def is_busy(exc: BaseException) -> bool:
    """Redis refused the command because a script or function has run past its busy
    threshold (``BUSY ...``; not ``BUSYGROUP``): nothing ran, and it will answer soon."""
    return str(exc).startswith("BUSY ")


def auth_error(client: redis.Redis, exc: BaseException) -> RedisAuthError:
    """Explain a refused login in terms of what to change in the URL."""
    where = describe(client)
    text = str(exc)
    # No password given: Redis 7 answers a RESP3 client's HELLO with "HELLO must be called
    # with the client already authenticated" (redis-py drops the NOAUTH prefix).
    no_password = not client.connection_pool.connection_kwargs.get("password")
    if "NOAUTH" in text or "required" in text or no_password:
        return RedisAuthError(
            f"Redis at {where} requires a password: give it in the URL "
            "(redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port)"
        )
    return RedisAuthError(
        f"Redis at {where} refused the credentials ({text}): check the user and password in the URL"
    )


def check(client: redis.Redis, *, deadline_s: float = 5.0) -> None:
    """Fail fast, with a message saying what to do, if Redis cannot be used at all."""
    try:
        call(client, client.ping, deadline_s=deadline_s)
        info = call(client, lambda: client.info("server"), deadline_s=deadline_s)
    except rex.NoPermissionError as exc:
        user = client.connection_pool.connection_kwargs.get("username") or "default"
        raise RedisAuthError(
            f"Redis at {describe(client)} lets user {user!r} log in but refuses it a command "
            f"({exc}): grant the user the commands the engine needs "
            "(ACL SETUSER ... +@all, or at least +info +@stream +@sortedset +@hash +function "
            "+fcall), or use another user"
        ) from exc
    except rex.InvalidResponse as exc:
        raise RedisUnavailableError(
            f"the server at {describe(client)} does not speak the Redis protocol ({exc}): "
            "check the host and port in the URL"
        ) from exc
    except rex.ResponseError as exc:
        if "DB index" not in str(exc):
            raise
        db = client.connection_pool.connection_kwargs.get("db", 0)
        raise ConfigError(
            f"Redis at {describe(client)} has no database {db} ({exc}): end the URL with a "
            "database number below the server's `databases` setting (16 by default), or /0"
        ) from exc
    version = str(info.get("redis_version", "0"))
    if int(version.split(".")[0]) < 7:
        raise RedisUnavailableError(
            f"Redis at {describe(client)} is version {version}; the engine needs Redis 7 "
            "or later (streams with lag, functions)"
        )
    if cluster_url.describe(client) is None:
        cluster = call(client, lambda: client.info("cluster"), deadline_s=deadline_s)
        if int(cluster.get("cluster_enabled", 0)):
            raise ConfigError(
                f"Redis at {describe(client)} is a Redis Cluster node: use "
                "redis+cluster://[:PASSWORD@]HOST:PORT[,HOST:PORT...] so that each job's "
                "commands go to the node that holds its slot"
            )
