"""``redis+sentinel://`` URLs: a client for whichever server the Sentinels call the master.

``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]``

The password is the data nodes' (the same on the primary and every replica); the
Sentinels are asked without one. The client is redis-py's Sentinel master client: every
new connection asks the Sentinels where the master is, and a connection that finds its
server demoted (``READONLY``) drops and reconnects, so the engine's retry loop
(:func:`engine.connection.call`) follows a failover like any other outage.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

import redis
from redis.sentinel import Sentinel

from engine.errors import ConfigError

SCHEME = "redis+sentinel://"
SENTINEL_TIMEOUT_S = 0.5
"""How long one Sentinel may take to answer before the next is asked."""
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_USAGE = "use redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB]"


@dataclasses.dataclass(frozen=True)
class SentinelAddress:
    """What a ``redis+sentinel://`` URL says."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    password: str | None = None
    username: str | None = None

    def url(self) -> str:
        """The URL again (with the password: for workers' environment only)."""
        auth = ""
        if self.password is not None:
            auth = f"{urllib.parse.quote(self.username or '', safe='')}:" \
                   f"{urllib.parse.quote(self.password, safe='')}@"  # fmt: skip
        hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
        return f"{SCHEME}{auth}{hosts}/{self.master_name}/{self.db}"


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SCHEME)


def redact(url: str) -> str:
    """The URL without its password."""
    rest = url[len(SCHEME) :] if is_sentinel_url(url) else url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = ":***@" + netloc.rpartition("@")[2]
    return f"{SCHEME}{netloc}{slash}{path}"


def parse(url: str) -> SentinelAddress:
    """Read a ``redis+sentinel://`` URL; a bad one is a ConfigError naming the bad part."""
    if not is_sentinel_url(url):
        raise ConfigError(f"{redact(url)!r} is not a Sentinel URL: {_USAGE}")
    netloc, _, path = url[len(SCHEME) :].partition("/")
    user = password = None
    if "@" in netloc:
        auth, _, netloc = netloc.rpartition("@")
        raw_user, _, raw_password = auth.partition(":")
        user = urllib.parse.unquote(raw_user) or None
        password = urllib.parse.unquote(raw_password)
    sentinels = tuple(_host_port(part, url) for part in netloc.split(","))
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2 or not _NAME.match(parts[0]):
        raise ConfigError(f"no master name in {redact(url)!r}: {_USAGE}")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ConfigError(f"database {parts[1]!r} in {redact(url)!r} is not a number: {_USAGE}")
        db = int(parts[1])
    return SentinelAddress(sentinels, parts[0], db, password, user)


def _host_port(part: str, url: str) -> tuple[str, int]:
    match = _HOST_PORT.match(part.strip())
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ConfigError(
            f"Sentinel address {part!r} in {redact(url)!r} is not HOST:PORT: {_USAGE}"
        )
    return match.group("host").strip("[]"), int(match.group("port"))


def connect(url: str, *, socket_timeout: float) -> redis.Redis:
    """A master client that follows failovers."""
    address = parse(url)
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels),
        socket_timeout=SENTINEL_TIMEOUT_S,
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
        },
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        address.master_name,
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=0,
    )
    return client


def describe(client: redis.Redis) -> str | None:
    """``sentinel MASTER_NAME`` for a Sentinel-managed client, else ``None``."""
    name = getattr(client.connection_pool, "service_name", None)
    return None if name is None else f"the master {name!r} (via Sentinel)"
