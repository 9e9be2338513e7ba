"""``redis+cluster://`` URLs: a Redis Cluster client, for running past one Redis.

``redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...][/0]``

The addresses are startup nodes: any one that answers tells the client where every slot
lives. Every key of a job carries the job's hash tag (``wc:{JOB}:...``,
:mod:`engine.keys`), so one job lives in one slot of one primary, each of its commands
and functions touches that slot only, and different jobs spread over the primaries.

The client is redis-py's :class:`~redis.cluster.RedisCluster`, which follows MOVED
redirects and a failover (a replica promoted in a dead primary's place) by itself;
what it gives up on (``CLUSTERDOWN`` while the failover runs, a node that cannot be
reached) :func:`is_transient` tells :func:`engine.connection.call` to wait out like any
other outage. Cluster mode has one database only, so a path other than ``/0`` is refused.
"""

from __future__ import annotations

import dataclasses
import re
import time
import urllib.parse
from typing import Any, cast

import redis
import redis.exceptions as rex
from redis.cluster import ClusterNode, RedisCluster

from engine.errors import ConfigError, RedisAuthError, RedisUnavailableError

SCHEME = "redis+cluster://"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")
_USAGE = "use redis+cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]"
CONNECT_DEADLINE_S = 5.0
_TRANSIENT_TEXT = ("cannot be connected", "not covered", "TRYAGAIN", "CLUSTERDOWN")
"""What redis-py says when the cluster is between topologies rather than wrongly used
(a cross-slot command, say, is a RedisClusterException too, and must not be retried)."""


@dataclasses.dataclass(frozen=True)
class ClusterAddress:
    """What a ``redis+cluster://`` URL says."""

    nodes: tuple[tuple[str, int], ...]
    password: str | None = None
    username: str | None = None

    def url(self) -> str:
        """The URL again (with the password: for workers' environment only)."""
        auth = ""
        if self.password is not None:
            auth = f"{urllib.parse.quote(self.username or '', safe='')}:" \
                   f"{urllib.parse.quote(self.password, safe='')}@"  # fmt: skip
        return SCHEME + auth + ",".join(_join(a) for a in self.nodes)

    def shown(self) -> str:
        """The URL without its password, for messages."""
        return redact(self.url())


def _join(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_cluster_url(url: str) -> bool:
    return url.lower().startswith(SCHEME)


def redact(url: str) -> str:
    """The URL without its password."""
    rest = url[len(SCHEME) :] if is_cluster_url(url) else url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        login, _, hosts = netloc.rpartition("@")
        user = login.partition(":")[0]
        netloc = f"{user}:***@{hosts}" if ":" in login else f"{user}@{hosts}"
    return f"{SCHEME}{netloc}{slash}{path}"


def parse(url: str) -> ClusterAddress:
    """Read a ``redis+cluster://`` URL; a bad one is a ConfigError naming the bad part."""
    if not is_cluster_url(url):
        raise ConfigError(f"{redact(url)!r} is not a Redis Cluster URL: {_USAGE}")
    rest = url[len(SCHEME) :]
    if "?" in rest:
        raise ConfigError(f"options are not supported in {redact(url)!r}: {_USAGE}")
    netloc, _, path = rest.partition("/")
    if path.strip("/") not in ("", "0"):
        raise ConfigError(
            f"database {path.strip('/')!r} in {redact(url)!r}: a Redis Cluster has database 0 "
            f"only; end the URL with /0 or nothing"
        )
    user = password = None
    if "@" in netloc:
        auth, _, netloc = netloc.rpartition("@")
        raw_user, has_password, raw_password = auth.partition(":")
        user = urllib.parse.unquote(raw_user) or None
        password = urllib.parse.unquote(raw_password) if has_password else None
    nodes = tuple(_host_port(part, url) for part in netloc.split(","))
    return ClusterAddress(nodes, password, user)


def _host_port(part: str, url: str) -> tuple[str, int]:
    match = _HOST_PORT.match(part.strip())
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ConfigError(f"node address {part!r} in {redact(url)!r} is not HOST:PORT: {_USAGE}")
    return match.group("host").strip("[]"), int(match.group("port"))


def connect(url: str, *, socket_timeout: float) -> redis.Redis:
    """A cluster client, typed as the plain client the engine is written against: the
    commands it uses are the same, each routed to the node that holds its job's slot.

    Unlike a plain client, it asks the nodes for the slot map as it is made; if none
    answers it tries again for :data:`CONNECT_DEADLINE_S` (a cluster restarting, a
    worker respawned mid-failover), and a refused login is said at once."""
    address = parse(url)
    give_up = time.monotonic() + CONNECT_DEADLINE_S
    while True:
        try:
            return cast(redis.Redis, ClusterClient(address, socket_timeout=socket_timeout))
        except rex.RedisClusterException as exc:
            cause = str(exc.__cause__ or exc)
            if "WRONGPASS" in cause or "invalid username-password" in cause:
                raise RedisAuthError(
                    f"{address.shown()} refused the credentials ({cause}): check the user "
                    "and password in the URL"
                ) from exc
            if "NOAUTH" in cause or "authenticated" in cause:
                raise RedisAuthError(
                    f"{address.shown()} requires a password: give it in the URL "
                    "(redis+cluster://:PASSWORD@host:port,...) or $WORDCOUNT_REDIS_PASSWORD"
                ) from exc
            if not is_transient(exc) or time.monotonic() > give_up:
                raise RedisUnavailableError(
                    f"no node of the Redis Cluster {address.shown()} answered ({cause}): "
                    "check that the nodes are running, reachable and in cluster mode"
                ) from exc
            time.sleep(0.2)


class ClusterClient(RedisCluster):
    """redis-py's cluster client with what the rest of the engine expects of a client.

    ``connection_pool`` is a view: the engine reads the login from it for messages, keys
    per-client state by it (:mod:`engine.functions`) and drops connections through it.
    ``FUNCTION LOAD`` goes to every primary; its answers, one per primary, are checked to
    agree and made one, as a single server gives.
    """

    def __init__(self, address: ClusterAddress, *, socket_timeout: float) -> None:
        super().__init__(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],  # type: ignore[no-untyped-call]
            username=address.username,
            password=address.password,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=0,
        )
        self.address = address
        self.connection_pool = _PoolView(self)
        self.result_callbacks["FUNCTION LOAD"] = _one_answer

    def determine_slot(self, *args: Any) -> int | None:
        """The slot of FCALL's and XREADGROUP's keys, read from the arguments.

        redis-py asks a server (COMMAND GETKEYS, with every argument) where the keys of
        a command with "movable" keys are: one more round trip per call, carrying a
        commit's whole payload a second time. Both commands say where their keys are."""
        keys = _movable_keys(args)
        if not keys:
            return super().determine_slot(*args)
        slots = {self.keyslot(key) for key in keys}  # type: ignore[no-untyped-call]
        if len(slots) != 1:
            raise rex.RedisClusterException(f"{args[0]} - all keys must map to the same key slot")
        return int(slots.pop())


def _movable_keys(args: tuple[Any, ...]) -> list[Any]:
    """The keys of ``FCALL name numkeys key...`` or ``XREADGROUP ... STREAMS key... id...``
    (empty for other commands, or when they carry none)."""
    command = _word(args[0])
    if command in ("FCALL", "FCALL_RO") and len(args) > 2:
        return list(args[3 : 3 + int(args[2])])
    if command == "XREADGROUP":  # XREADGROUP GROUP group consumer [options] STREAMS ...
        words = [_word(a) for a in args]
        if "STREAMS" in words[4:]:
            rest = args[words.index("STREAMS", 4) + 1 :]
            return list(rest[: len(rest) // 2])
    return []


def _word(arg: Any) -> str:
    return (arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)).upper()


def _one_answer(command: str, answers: Any) -> Any:
    if not isinstance(answers, dict):
        return answers
    distinct = set(answers.values())
    if len(distinct) != 1:
        raise rex.ResponseError(f"{command} answered differently by the primaries: {answers}")
    return distinct.pop()


class _PoolView:
    """The parts of :class:`redis.ConnectionPool` the engine touches, for a cluster."""

    def __init__(self, client: ClusterClient) -> None:
        host, port = client.address.nodes[0]
        self._client = client
        self.connection_kwargs = {
            "host": host,
            "port": port,
            "db": 0,
            "username": client.address.username,
            "password": client.address.password,
        }

    def disconnect(self) -> None:
        self._client.disconnect_connection_pools()  # type: ignore[no-untyped-call]


def describe(client: redis.Redis) -> str | None:
    """``the cluster nodes HOST:PORT,...`` for a cluster client, else ``None``."""
    if not isinstance(client, ClusterClient):
        return None
    return f"the cluster nodes {','.join(_join(a) for a in client.address.nodes)}"


def is_transient(exc: BaseException) -> bool:
    """A cluster error that waiting cures: a failover in progress (CLUSTERDOWN, TRYAGAIN,
    MASTERDOWN, a slot no primary serves yet) or no node reachable for now."""
    if isinstance(exc, rex.ClusterError | rex.TryAgainError | rex.SlotNotCoveredError):
        return True
    return isinstance(exc, rex.RedisClusterException) and any(
        text in str(exc) for text in _TRANSIENT_TEXT
    )
