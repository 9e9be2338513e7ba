"""A replicated group: one primary, N replicas and three Sentinels that fail over.

The labs' last part keeps 2f+1 copies in step so a job survives f crashed nodes without
recomputing anything. This is that topology with what Redis offers: ``REPLICAOF`` copies,
Sentinel failover, and (in the worker, :mod:`engine.replica_sync`) ``WAIT`` after each
commit. Every data node has the same password (``masterauth`` too, so any node can become
any other's replica) and the function library (loaded on the primary, which replicates
it; a node that comes back empty gets it with its full resync).

A killed node is restarted as a replica of whichever node the Sentinels name master, and
a killed *primary* only once the Sentinels have promoted another: with no persistence it
comes back empty, and an empty server that still looked like the master would have its
replicas copy its emptiness.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from engine.errors import NodeError
from engine.functions import Library
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import new_password, settle
from engine.nodes.factory import Backend, make_node
from engine.nodes.sentinel import SentinelProcess
from engine.sentinel_url import SentinelAddress

MASTER_NAME = "wordcount"
SENTINELS = 3
SETTLE_TIMEOUT_S = 30.0
"""How long a start, a failover or a resync may take before it is reported as failed."""
DEFAULT_PRIORITY = 100
"""Redis' default ``replica-priority``; 0 means "never promote"."""


class Sentinel(Protocol):
    """What the group needs of a Sentinel, process or container."""

    host: str
    port: int

    def start(self) -> None: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...
    def client(self, timeout_s: float = 1.0) -> redis.Redis: ...


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    settle("the replicated group", what, check, timeout_s)


class ReplicatedGroup(RedisNode):
    """A primary, ``replicas`` replicas and three Sentinels, started and stopped together.

    It is a :class:`RedisNode` whose :attr:`url` is a ``redis+sentinel://`` URL and whose
    :meth:`client` talks to the current master, so the driver can use it wherever it
    uses an embedded Redis. Faults aimed at one member go through :meth:`kill_node`,
    :meth:`restart_node`, :meth:`pause_node` and friends.
    """

    def __init__(
        self,
        replicas: int = 2,
        *,
        backend: Backend = "process",
        persistence: Persistence = Persistence(),  # noqa: B008 - frozen
        password: str | None = None,
        down_after_ms: int = 2000,
        host: str = "127.0.0.1",
    ) -> None:
        if replicas < 0:
            raise NodeError(f"--replicas must be 0 or more, got {replicas}")
        self.host = host
        self.password = password or new_password()
        self.persistence = persistence
        self.down_after_ms = down_after_ms
        self.backend = backend
        self.nodes: list[RedisNode] = [self._new_node(i) for i in range(replicas + 1)]
        self.port = self.nodes[0].port
        self.sentinels: list[Sentinel] = []
        self.peer_addresses: dict[int, tuple[str, int]] = {}
        """Where Sentinels and replicas reach node i, if not at its own port (a proxy);
        set before :meth:`start`."""
        self.client_addresses: dict[int, tuple[str, int]] = {}
        """Where clients reach node i, if not where the Sentinels announce it."""
        self._started = False

    def __repr__(self) -> str:
        return f"ReplicatedGroup(nodes={[n.port for n in self.nodes]})"

    def _new_node(self, index: int) -> RedisNode:
        """Data node ``index`` (not started); subclasses put it elsewhere."""
        return make_node(
            self.backend, password=self.password, persistence=self.persistence, host=self.host
        )

    def _new_sentinel(self, index: int) -> Sentinel:
        """Sentinel ``index`` (not started), watching node 0 at its peer address."""
        host, port = self.peer(0)
        return SentinelProcess(
            master_name=MASTER_NAME, master_host=host, master_port=port,
            password=self.password, down_after_ms=self.down_after_ms, host=self.host,
        )  # fmt: skip

    # --- addresses -----------------------------------------------------------------------

    def peer(self, index: int) -> tuple[str, int]:
        """The address Sentinels and replicas use for node ``index``."""
        node = self.nodes[index]
        return self.peer_addresses.get(index, (node.host, node.port))

    @property
    def address(self) -> SentinelAddress:
        hosts = tuple((s.host, s.port) for s in self.sentinels)
        mapping = tuple((self.peer(i), reached) for i, reached in self.client_addresses.items())
        return SentinelAddress(hosts, MASTER_NAME, 0, self.password, None, mapping)

    @property
    def url(self) -> str:
        return self.address.url()

    def client(self, **kwargs: object) -> redis.Redis:
        """A client of the current primary (asked of the Sentinels once, now)."""
        primary = self.nodes[self.primary_index()]
        return primary.client(**kwargs)

    def master_address(self) -> tuple[str, int] | None:
        """Where the first Sentinel that answers says the master is."""
        for sentinel in self.sentinels:
            client = sentinel.client(0.5)
            try:
                reply: Any = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
            if reply:
                host = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
                return host, int(reply[1])
        return None

    def primary_index(self) -> int:
        """The index in :attr:`nodes` of the master the Sentinels name."""
        address = self.master_address()
        for i in range(len(self.nodes)):
            if address is not None and self.peer(i) == address:
                return i
        raise NodeError(f"no Sentinel of {self!r} names a master among its nodes ({address})")

    # --- life ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        try:
            for node in self.nodes:
                node.start()
            primary = self.nodes[0]
            self._announce(primary)  # a demoted primary must reach its new master too
            Library(primary.client(socket_timeout=5)).load()
            for node in self.nodes[1:]:
                self._follow(node, 0)
            for node in self.nodes[1:]:
                _wait_for(f"replica {node.port} in sync", functools.partial(_linked, node))
            self.sentinels = [self._new_sentinel(i) for i in range(SENTINELS)]
            for sentinel in self.sentinels:
                sentinel.start()
            for sentinel in self.sentinels:
                ready = functools.partial(self._sentinel_ready, sentinel)
                _wait_for("Sentinels that know each other and every replica", ready)
        except BaseException:
            self.close()
            raise
        self._started = True

    def _sentinel_ready(self, sentinel: Sentinel) -> bool:
        client = sentinel.client(0.5)
        try:
            master: Any = client.sentinel_master(MASTER_NAME)
            return (
                int(master["num-other-sentinels"]) >= SENTINELS - 1
                and int(master["num-slaves"]) >= len(self.nodes) - 1
            )
        finally:
            client.close()

    def _announce(self, node: RedisNode) -> None:
        """Give ``node`` the shared password for its master and its peer address to
        announce: every node, the first primary too, which the Sentinels may demote (a
        split brain healed) without anyone calling :meth:`_follow` on it."""
        client = node.client(socket_timeout=5)
        try:
            client.config_set("masterauth", self.password)
            host, port = self.peer(self.nodes.index(node))
            client.config_set("replica-announce-ip", host)
            client.config_set("replica-announce-port", port)
            # A full sync starts at once, not after the default 5 s spent waiting for more
            # replicas to share it: a node restarted empty is one copy short until it ends.
            client.config_set("repl-diskless-sync-delay", 0)
        finally:
            client.close()

    def _follow(self, node: RedisNode, primary: int) -> None:
        """Make ``node`` a replica of node ``primary``, announcing its peer address."""
        self._announce(node)
        client = node.client(socket_timeout=5)
        try:
            client.replicaof(*self.peer(primary))
        finally:
            client.close()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.kill()
        for node in self.nodes:
            node.stop()
        self._started = False

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def restart(self, *, wipe: bool = False, downtime_s: float = 0.0) -> None:
        """A crash of "the Redis" (what the single-node faults do): SIGKILL the primary and
        bring it back as a replica once the Sentinels promoted another.

        With every node already down (the driver's answer to a dead group) the one the
        Sentinels still call master comes back first, as the master (with whatever its
        persistence kept), and the rest follow it.
        """
        if self.is_running():
            index = self.primary_index()
            self.kill_node(index)
            if downtime_s > 0:
                time.sleep(downtime_s)
            self.restart_node(index, wipe=wipe)
            return
        if downtime_s > 0:
            time.sleep(downtime_s)
        address = self.master_address()
        index = next((i for i in range(len(self.nodes)) if self.peer(i) == address), 0)
        self.nodes[index].restart(wipe=wipe)
        for i, node in enumerate(self.nodes):
            if not node.is_running():
                self.restart_node(i, wipe=wipe)

    def pause(self) -> None:
        for node in self.nodes:
            node.pause()

    def resume(self) -> None:
        for node in self.nodes:
            node.resume()

    def is_running(self) -> bool:
        """Whether any data node is up: the group serves as long as one is."""
        return any(node.is_running() for node in self.nodes)

    def close(self) -> None:
        for sentinel in self.sentinels:
            sentinel.close()
        for node in self.nodes:
            with contextlib.suppress(NodeError):
                node.close()
        self._started = False

    # --- faults on one member ------------------------------------------------------------

    def kill_node(self, index: int) -> None:
        """SIGKILL one data node."""
        self.nodes[index].kill()

    def restart_node(
        self, index: int, *, wipe: bool = False, failover_timeout_s: float = 30.0
    ) -> None:
        """Bring a data node back (killing it first if it runs) as a replica of the master.

        If it is (or was, last the Sentinels said) the master and another node is up, wait
        for the Sentinels to promote one first.
        """
        node = self.nodes[index]
        node.kill()
        others_up = any(n.is_running() for i, n in enumerate(self.nodes) if i != index)
        if others_up and self.master_address() == self.peer(index):
            _wait_for(
                "a failover away from the killed master",
                lambda: self.master_address() not in (None, self.peer(index)),
                failover_timeout_s,
            )
        node.restart(wipe=wipe)
        master = self.master_address()
        if master is not None and master != self.peer(index):
            _set_priority(node, 0)
            self._follow(node, self.primary_index())
            self._promotable_once_linked(node)

    def _promotable_once_linked(self, node: RedisNode) -> None:
        """Let the Sentinels promote ``node`` again once its first sync is done.

        A node restarted empty is held at ``replica-priority 0`` until then: the Sentinels
        would otherwise pick it in a failover (a replica that never synced reports no
        link-down time to rule it out), and a master promoted empty takes the whole job
        with it. Seen in the benchmark's "random node every 1 s": twice in one run.
        """
        thread = threading.Thread(
            target=_release_when_linked, args=(node,), name="promotable-once-linked", daemon=True
        )
        thread.start()

    def wait_in_sync(self, index: int, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Return once node ``index`` is the master or a replica whose link is up (its full
        sync done)."""

        def in_sync() -> bool:
            if self.master_address() == self.peer(index):
                return True
            return _linked(self.nodes[index])

        _wait_for(f"node {self.nodes[index].port} in sync", in_sync, timeout_s)

    def pause_node(self, index: int) -> None:
        self.nodes[index].pause()

    def resume_node(self, index: int) -> None:
        self.nodes[index].resume()

    def wait_failover(self, old: tuple[str, int], timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Return once the Sentinels name a master other than ``old``."""
        _wait_for("a failover", lambda: self.master_address() not in (None, old), timeout_s)


def _set_priority(node: RedisNode, priority: int) -> None:
    client = node.client(socket_timeout=5)
    try:
        client.config_set("replica-priority", priority)
    finally:
        client.close()


def _release_when_linked(node: RedisNode, timeout_s: float = 4 * SETTLE_TIMEOUT_S) -> None:
    """Set ``node``'s priority back to the default once it is in sync (or give up, if it
    died meanwhile: a new start has the default priority anyway)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, NodeError):
            if _linked(node):
                _set_priority(node, DEFAULT_PRIORITY)
                return
        if not node.is_running():
            return
        time.sleep(0.1)


def _linked(node: RedisNode) -> bool:
    client = node.client(socket_timeout=1)
    try:
        info = client.info("replication")
        return info.get("master_link_status") == "up"
    finally:
        client.close()
