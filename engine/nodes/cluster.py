"""A local Redis Cluster: primaries with replicas, as ``redis-server`` child processes.

What the engine's ``redis+cluster://`` URLs (:mod:`engine.cluster_url`) are tested on,
and a cluster anyone can start to try them. Every node has the one password in its 0600
config file (``requirepass``) and as ``masterauth`` (CONFIG SET after each start), never
on a command line, so a replica can sync from whichever primary it is given and a
promoted one can be synced from. The slots are split evenly over the primaries; each
replica follows one primary, so when a primary is SIGKILLed its replica is promoted by
the cluster's own failover (no Sentinels) after ``node_timeout_ms``.

The function libraries are not loaded here: the engine loads them on every primary
itself (FUNCTION LOAD goes to all of them) and again where a call finds them missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis

from engine import cluster_url
from engine.cluster_url import ClusterAddress
from engine.errors import NodeError
from engine.nodes.common import free_port, new_password, settle
from engine.nodes.process import PortTakenError, ProcessNode

SLOTS = 16384
NODE_TIMEOUT_MS = 3000
"""How long a node may be unreachable before the cluster fails it over: short, so tests
are quick, yet past the stalls of a loaded machine most of the time."""
SETTLE_TIMEOUT_S = 60.0


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float = SETTLE_TIMEOUT_S) -> None:
    settle("the Redis Cluster", what, check, timeout_s)


class LocalCluster:
    """``primaries`` primaries with ``replicas`` replicas each, started and closed together.

    Node ``i < primaries`` starts as the primary of the i-th share of the slots; node
    ``primaries + k * primaries + i`` as a replica of primary ``i``. Failovers change
    who is primary: ask :meth:`primary_of_slot`.
    """

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        *,
        password: str | None = None,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        host: str = "127.0.0.1",
    ) -> None:
        if primaries < 1 or replicas < 0:
            raise NodeError(f"a cluster needs 1 or more primaries and 0 or more replicas each, "
                            f"got {primaries} and {replicas}")  # fmt: skip
        self.primaries = primaries
        self.password = password or new_password()
        self.node_timeout_ms = node_timeout_ms
        self.nodes = [self._new_node(host) for _ in range(primaries * (1 + replicas))]

    def _new_node(self, host: str) -> ProcessNode:
        options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                   "--cluster-node-timeout", str(self.node_timeout_ms),
                   "--cluster-port", str(free_port(host))]  # fmt: skip
        return ProcessNode(password=self.password, host=host, extra_args=options)

    def __repr__(self) -> str:
        return f"LocalCluster(nodes={[n.port for n in self.nodes]})"

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> ClusterAddress:
        return ClusterAddress(tuple((n.host, n.port) for n in self.nodes), self.password)

    @property
    def url(self) -> str:
        """``redis+cluster://:PASSWORD@HOST:PORT,...`` naming every node."""
        return self.address.url()

    def client(self, socket_timeout: float = 5.0) -> redis.Redis:
        """A cluster client (redis-py's, through :mod:`engine.cluster_url`)."""
        return cluster_url.connect(self.url, socket_timeout=socket_timeout)

    def start(self) -> None:
        """Start every node, join them, give the primaries the slots, attach the replicas."""
        for node in self.nodes:
            self._start_node(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            bus = node.extra_args[node.extra_args.index("--cluster-port") + 1]
            self._command(first, "MEET", node.host, node.port, bus)
        share = SLOTS // self.primaries
        for i in range(self.primaries):
            high = SLOTS - 1 if i == self.primaries - 1 else (i + 1) * share - 1
            self._command(self.nodes[i], "ADDSLOTSRANGE", i * share, high)
        _wait_for("every node knowing every other", self._all_known)
        for index in range(self.primaries, len(self.nodes)):
            primary_id = self._node_id(index % self.primaries)
            self._command(self.nodes[index], "REPLICATE", primary_id)
        self.wait_healthy()

    def _start_node(self, node: ProcessNode) -> None:
        for attempt in range(3):  # the bus port, picked at creation, may be taken since
            try:
                node.start()
                break
            except PortTakenError:
                if attempt == 2:
                    raise
                args = list(node.extra_args)
                args[args.index("--cluster-port") + 1] = str(free_port(node.host))
                node.extra_args = tuple(args)
        node.client().config_set("masterauth", self.password)

    def _direct(self, node: ProcessNode) -> redis.Redis:
        return node.client(socket_timeout=2.0, socket_connect_timeout=2.0)

    def _command(self, node: ProcessNode, *args: object) -> Any:
        """A CLUSTER subcommand's raw answer (redis-py parses some into shapes of its own)."""
        return self._direct(node).execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]

    def _node_id(self, index: int) -> str:
        return str(self._command(self.nodes[index], "MYID").decode())

    def _all_known(self) -> bool:
        for node in self.running():
            text = self._command(node, "NODES").decode()
            lines = [line for line in text.splitlines() if line.strip()]
            if len(lines) != len(self.nodes) or "handshake" in text or "noaddr" in text:
                return False
        return True

    def running(self) -> list[ProcessNode]:
        return [node for node in self.nodes if node.is_running()]

    def wait_healthy(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Until every running node says ``cluster_state:ok`` and every running replica's
        link to its primary is up."""

        def healthy() -> bool:
            for node in self.running():
                direct = self._direct(node)
                if direct.cluster("INFO")["cluster_state"] != "ok":
                    return False
                info = direct.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
            return True

        _wait_for("cluster_state ok with every replica in sync", healthy, timeout_s)

    def slot_of(self, key: str) -> int:
        return int(self._command(self.running()[0], "KEYSLOT", key))

    def primary_of_slot(self, slot: int) -> int:
        """Index of the running node that serves ``slot`` as a primary, by its own word."""
        for index, node in enumerate(self.nodes):
            if not node.is_running():
                continue
            with contextlib.suppress(redis.RedisError, OSError):
                if self._serves(node, slot):
                    return index
        raise NodeError(f"no running primary serves slot {slot}")

    def _serves(self, node: ProcessNode, slot: int) -> bool:
        """Whether ``node`` calls itself a primary of ``slot`` (CLUSTER NODES, ``myself``)."""
        text = self._command(node, "NODES").decode()
        myself = next(line for line in text.splitlines() if "myself" in line).split()
        if "master" not in myself[2]:
            return False
        for part in myself[8:]:
            low, _, high = part.partition("-")
            if low.isdigit() and int(low) <= slot <= int(high or low):
                return True
        return False

    def kill_node(self, index: int) -> None:
        """SIGKILL node ``index``: no goodbye to its peers or clients."""
        self.nodes[index].kill()

    def restart_node(self, index: int) -> None:
        """Start a killed node again with its ``nodes.conf`` (its data is gone: no
        persistence); it learns it was replaced and follows its successor."""
        self._start_node(self.nodes[index])

    def wait_failover(self, slot: int, old: int, timeout_s: float = SETTLE_TIMEOUT_S) -> int:
        """Wait until a node other than ``old`` serves ``slot`` and the cluster is ok; its index."""
        found: list[int] = []

        def promoted() -> bool:
            try:
                index = self.primary_of_slot(slot)
            except NodeError:  # none yet: the replica waits out the node timeout first
                return False
            if index == old:
                return False
            found.append(index)
            return bool(self._direct(self.nodes[index]).cluster("INFO")["cluster_state"] == "ok")

        _wait_for(f"a new primary for slot {slot}", promoted, timeout_s)
        return found[-1]

    def close(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.close()
