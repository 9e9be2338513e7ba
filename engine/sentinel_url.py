"""``redis+sentinel://`` URLs: a client for whichever server the Sentinels call the master.

``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER_NAME[/DB][?map=A:P=B:Q,...]``

``map`` rewrites the master address the Sentinels announce before connecting, for
clients that reach the nodes at other addresses than the Sentinels do (behind a proxy
or NAT, or containers whose published ports differ from their network's).

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
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.connection import ConnectionPool
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

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
    address_map: tuple[tuple[tuple[str, int], tuple[str, int]], ...] = ()

    def url(self) -> str:
        """The URL again (with the password: for workers' environment only)."""
        auth = ""
        if self.password is not None:
            auth = f"{urllib.parse.quote(self.username or '', safe='')}:" \
                   f"{urllib.parse.quote(self.password, safe='')}@"  # fmt: skip
        hosts = ",".join(_join(a) for a in self.sentinels)
        query = ",".join(f"{_join(a)}={_join(b)}" for a, b in self.address_map)
        tail = f"?map={query}" if query else ""
        return f"{SCHEME}{auth}{hosts}/{self.master_name}/{self.db}{tail}"


def _join(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SCHEME)


def redact(url: str) -> str:
    """The URL without its password."""
    rest = url[len(SCHEME) :] if is_sentinel_url(url) else url
    rest = rest.partition("?")[0]
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = ":***@" + netloc.rpartition("@")[2]
    return f"{SCHEME}{netloc}{slash}{path}"


def parse(url: str) -> SentinelAddress:
    """Read a ``redis+sentinel://`` URL; a bad one is a ConfigError naming the bad part."""
    if not is_sentinel_url(url):
        raise ConfigError(f"{redact(url)!r} is not a Sentinel URL: {_USAGE}")
    rest, _, query = url[len(SCHEME) :].partition("?")
    netloc, _, path = rest.partition("/")
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
    return SentinelAddress(sentinels, parts[0], db, password, user, _address_map(query, url))


def _address_map(query: str, url: str) -> tuple[tuple[tuple[str, int], tuple[str, int]], ...]:
    pairs = []
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key != "map":
            raise ConfigError(f"unknown option {key!r} in {redact(url)!r}: only map= is known")
        for item in value.split(","):
            announced, sep, reached = item.partition("=")
            if not sep:
                raise ConfigError(
                    f"map entry {item!r} in {redact(url)!r} is not HOST:PORT=HOST:PORT"
                )
            pairs.append((_host_port(announced, url), _host_port(reached, url)))
    return tuple(pairs)


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
        sentinel_kwargs={  # no retries: the next Sentinel is asked instead
            "socket_timeout": SENTINEL_TIMEOUT_S,
            "socket_connect_timeout": SENTINEL_TIMEOUT_S,
            "retry": Retry(NoBackoff(), 0),
        },
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        address.master_name,
        connection_pool_class=_MappedPool,
        address_map=dict(address.address_map),
        db=address.db,
        username=address.username,
        password=address.password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=0,
    )
    return client


class _MappedPool(SentinelConnectionPool):
    """A Sentinel pool that rewrites the announced master address through a map.

    Connections ask the pool's proxy object for the address, so the proxy's method is
    wrapped; ``owns_connection`` compares with the rewritten address, or every released
    connection would be dropped as belonging to another master.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        self.address_map: dict[tuple[str, int], tuple[str, int]] = kwargs.pop("address_map", {})
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        announced = self.proxy.get_master_address
        self.proxy.get_master_address = lambda: self._mapped(announced())  # type: ignore[method-assign,no-untyped-call]

    def _mapped(self, address: Any) -> tuple[str, int] | None:
        if address is None:
            return None
        host, port = address
        key = (host.decode() if isinstance(host, bytes) else str(host), int(port))
        return self.address_map.get(key, key)

    def owns_connection(self, connection: Any) -> bool:
        if self.is_master and self._mapped(self.master_address) != (
            connection.host,
            connection.port,
        ):
            return False
        return bool(ConnectionPool.owns_connection(self, connection))


def describe(client: redis.Redis) -> str | None:
    """``sentinel MASTER_NAME`` for a Sentinel-managed client, else ``None``."""
    name = getattr(client.connection_pool, "service_name", None)
    return None if name is None else f"the master {name!r} (via Sentinel)"
