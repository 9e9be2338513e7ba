"""Connecting to Redis and surviving its outages.

Every call the engine makes goes through :func:`call`, which retries on connection
loss, timeouts (a paused server) and LOADING (a restarted server reading its data) with
capped exponential backoff until a deadline, so a worker never spins while Redis is down
and never gives up on a short outage. Errors that retrying cannot fix (a wrong password,
a bad command) become :class:`~engine.errors.WordCountError` with a message for people.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import redis
import redis.exceptions as rex

from engine.errors import ConfigError, RedisAuthError, RedisUnavailableError

T = TypeVar("T")
DEFAULT_DEADLINE_S = 60.0
SOCKET_TIMEOUT_S = 5.0
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 1.0
_RETRYABLE = (rex.ConnectionError, rex.TimeoutError)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for ``redis://``, ``rediss://`` or ``unix://`` URLs, with credentials."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"invalid Redis URL {redact(url)!r}: use redis://[[user]:password@]host:port[/db]"
        )
    try:
        return redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=0,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact(url)!r}: {exc}") from exc


def describe(client: redis.Redis) -> str:
    """Where a client points, for messages, without the password."""
    kwargs = client.connection_pool.connection_kwargs
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
        try:
            return operation()
        except rex.AuthenticationError as exc:
            raise auth_error(client, exc) from exc
        except rex.ResponseError as exc:
            if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
                raise auth_error(client, exc) from exc
            if not str(exc).startswith("BUSY"):
                raise
            failure: BaseException = exc  # a long function call: wait as for an outage
        except _RETRYABLE as exc:
            failure = exc
        if time.monotonic() + delay > give_up:
            raise RedisUnavailableError(
                f"Redis at {describe(client)} did not answer for {deadline_s:.0f} s "
                f"(last error: {failure}); check that it is running and reachable"
            ) from failure
        if on_retry is not None:
            on_retry(failure)
        time.sleep(delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, _BACKOFF_CAP_S)


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
    call(client, client.ping, deadline_s=deadline_s)
    info = call(client, lambda: client.info("server"), deadline_s=deadline_s)
    version = str(info.get("redis_version", "0"))
    if int(version.split(".")[0]) < 7:
        raise RedisUnavailableError(
            f"Redis at {describe(client)} is version {version}; the engine needs Redis 7 "
            "or later (streams with lag, functions)"
        )
