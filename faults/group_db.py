"""The database role for a replicated group: a primary, replicas and three Sentinels.

A scenario with ``settings.replicas`` > 0 runs on a
:class:`~engine.nodes.replicated.ReplicatedGroup` of local ``redis-server`` processes,
or of containers on the docker backend (no split brain there: its proxies are local).
The engine gets the group's ``redis+sentinel://`` URL, and the sampler and the final
read follow whoever the Sentinels name master, as a client of the engine would. A
scenario that may partition the primary gets the proxies of
:func:`faults.netfaults.with_proxies` on every link; one that may not runs without them
(they cost CPU in this process on every byte the engine sends).

Each fault (:data:`faults.kinds.KINDS` entries with ``group``) waits, before it answers,
until the group has settled (one master, the Sentinels' one, every other running node
its replica and in sync) and then reads the new master's acknowledged set. That read is
to the checker what a restarted single node's persisted set is (``done_after`` and
``restart_at``): from then on the acknowledged set is exactly that, and commits reported
since the fault began (``uncertain_from``) are indeterminate, so a commit the old primary
accepted and the failover lost, redone on the new primary, is not "committed twice"; and
no fault starts while a node is still down or resyncing, so crash faults hit at most one
node at a time.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import redis

from engine.errors import NodeError
from engine.keys import JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import settle
from engine.nodes.replicated import MASTER_NAME, ReplicatedGroup
from engine.sentinel_url import connect
from faults import netfaults
from faults.db import DB, NEMESIS, READ_TIMEOUT_S, SAMPLE_TIMEOUT_S, FinalState
from faults.errors import RunnerError
from faults.failover_watch import UNPLANNED, FailoverWatch
from faults.history import History
from faults.replication_nemesis import (
    freeze_primary,
    kill_primary,
    kill_replicas,
    pause_node,
    restart_killed,
)
from faults.scenario import PROCESS_ONLY_KINDS, Scenario

DOWN_AFTER_MS = 2000
"""The Sentinels' down-after time: the group's default. Shorter ones fail a primary over
when a loaded machine merely delays its replies, and an unplanned failover is one the
nemesis never recorded."""
KILLS_EVERY = 3
"""Kills of one ``redis-kill-every`` fault."""
SETTLE_S = 45.0
"""How long a fault may take to settle: a failover is down-after plus an election, and a
Sentinel waits twice its failover timeout before it tries a second one."""


def group_db(scenario: Scenario, node: RedisNode | str, history: History) -> GroupDB:
    """The DB role of a replicated scenario, on ``node`` (a backend name)."""
    if node not in ("process", "docker"):
        shown = node if isinstance(node, str) else type(node).__name__
        raise RunnerError(
            f"a replicated scenario (settings.replicas = {scenario.settings.replicas}) starts "
            f"its own group, not on {shown}: use --backend process or --backend docker"
        )
    proxied = [f.action.kind for f in scenario.faults if f.action.kind in PROCESS_ONLY_KINDS]
    if proxied and node != "process":
        raise RunnerError(
            f"{proxied[0]} acts on the group's proxies, which only a group of local "
            "processes has: use --backend process, or drop that fault"
        )
    persistence = scenario.settings.persistence_spec()
    return GroupDB(scenario.settings.replicas, persistence, history, proxies=bool(proxied),
                   backend=node)  # fmt: skip


class GroupDB(DB):
    """:class:`DB` for a replicated group (see the module docstring)."""

    node: ReplicatedGroup

    def __init__(
        self,
        replicas: int,
        persistence: Persistence,
        history: History,
        *,
        proxies: bool,
        backend: str = "process",
    ) -> None:
        kind = ReplicatedGroup
        if backend == "docker":  # imported here: the Docker SDK only where it is used
            from engine.nodes.replicated_docker import DockerReplicatedGroup as kind
        group = kind(replicas, persistence=persistence, down_after_ms=DOWN_AFTER_MS)
        super().__init__(group, history, owned=True)
        self.proxies = proxies
        self.net: netfaults.ProxiedGroup | None = None
        self.watch = FailoverWatch(group.master_address, history.now)
        self.windows: list[tuple[float, float]] = []
        """Each group fault's (start, settled) times: a failover seen in one is its own."""
        self._unplanned_recorded = False
        self._fault_started: float | None = None

    def setup(self) -> None:
        try:
            if self.proxies:
                self.net = netfaults.with_proxies(self.node)
            else:
                self.node.start()
        except (NodeError, redis.RedisError, OSError) as exc:
            raise RunnerError(f"cannot start the replicated group for the run: {exc}") from exc
        started = {"replicas": len(self.node.nodes) - 1, "proxies": self.proxies,
                   "persistence": str(self.node.persistence)}  # fmt: skip
        self.history.add("ok", NEMESIS, "redis-start", started)
        self.watch.start()

    def teardown(self) -> None:
        """Close the group and its proxies (SIGCONT first: a pause may have been cut short)."""
        self._record_unplanned()
        for node in self.node.nodes:
            with contextlib.suppress(NodeError, OSError):
                node.resume()
        if self.net is not None:
            self.net.close()
        else:
            self.node.close()

    def sampler_client(self) -> redis.Redis:
        return connect(self.url, socket_timeout=SAMPLE_TIMEOUT_S)

    def cut_client(self) -> redis.Redis:
        return connect(self.url, socket_timeout=READ_TIMEOUT_S)

    # --- faults -------------------------------------------------------------------------

    def group_fault(self, action: str, keys: JobKeys, ms: int) -> dict[str, Any]:
        """Carry out ``action`` on the group, wait until it settled, and read what the
        master it settled on holds (``done_after``, read at ``restart_at``)."""
        started, before = self.history.now(), self.node.primary_index()
        self._fault_started = started
        if action == "kill-primary":
            did = self._kill_primary(ms)
        elif action == "pause-primary":
            did = pause_node(self.node, before, ms)
        elif action == "kill-replica":
            did = self._kill_replica(ms)
        elif action == "kill-every":
            did = self._kill_every(ms)
        elif action == "freeze-primary":
            did = freeze_primary(self.node, before, ms)
        elif action == "partition-primary":
            did = self._partition(ms)
        elif action == "slow-clients":
            did = self._slow_clients(ms)
        else:
            raise NodeError(f"no such group fault {action!r}")
        primary = self.settle()
        read_at = self.history.now()  # a commit acknowledged before this must be in the read
        done = self.read(lambda c: sorted(_text(e) for e in c.smembers(keys.done)))
        restart_at = self.history.now()  # after the read: later commits are judged against it
        self.windows.append((started, restart_at))
        self._fault_started = None
        return {**did, "master_before": before, "master_after": primary,
                "failed_over": primary != before,
                "done_after": done, "uncertain_from": round(started, 6),
                "restart_at": round(restart_at, 6), "read_at": round(read_at, 6)}  # fmt: skip

    def _kill_primary(self, downtime_ms: int) -> dict[str, Any]:
        """SIGKILL the primary, wait for its failover, and after ``downtime_ms`` more bring
        it back as a replica (empty without persistence: it resyncs)."""
        old = self.node.master_address()
        did = kill_primary(self.node)
        if old is not None:
            self.node.wait_failover(old, SETTLE_S)
        time.sleep(downtime_ms / 1000)
        self.node.restart_node(did["primary"], failover_timeout_s=SETTLE_S)
        return did

    def _kill_replica(self, downtime_ms: int) -> dict[str, Any]:
        """SIGKILL one replica (the primary keeps taking writes; ``WAIT 1`` still has the
        other) and after ``downtime_ms`` bring it back, empty: it resyncs."""
        did = kill_replicas(self.node, 1)
        time.sleep(downtime_ms / 1000)
        restart_killed(self.node)
        return did

    def _kill_every(self, every_ms: int) -> dict[str, Any]:
        """The labs' "a random node killed and restarted every N seconds", as one fault:
        :data:`KILLS_EVERY` kills, ``every_ms`` apart, each of a data node drawn by a
        generator seeded with ``every_ms`` and the faults before it (a replay kills the
        same nodes), restarted empty as a replica (a primary after its failover) and the
        group settled before the wait: one node down at a time, as f = 1 asks."""
        rng = random.Random(f"kill-every:{every_ms}:{len(self.windows)}")
        killed: list[int] = []
        for n in range(KILLS_EVERY):
            if n:
                time.sleep(every_ms / 1000)
            index = rng.randrange(len(self.node.nodes))
            self.node.kill_node(index)
            self.node.restart_node(index, failover_timeout_s=SETTLE_S)
            self.settle()
            killed.append(index)
        return {"killed": killed, "every_ms": every_ms}

    def _slow_clients(self, ms: int) -> dict[str, Any]:
        """Delay every chunk between the engine and the data nodes by a tenth of ``ms``,
        for ``ms``: the labs' latency on the worker link, as a fault (no failover)."""
        return self._on_proxies(
            "net-slow-group", ms, lambda net: netfaults.slow_clients(net, ms / 10)
        )

    def _partition(self, ms: int) -> dict[str, Any]:
        return self._on_proxies("net-partition-primary", ms, netfaults.partition_primary)

    def _on_proxies(
        self, kind: str, ms: int, act: Callable[[netfaults.ProxiedGroup], dict[str, Any]]
    ) -> dict[str, Any]:
        """Do ``act`` to the group's proxies, hold it ``ms``, then heal them."""
        if self.net is None:
            raise NodeError(f"{kind} needs the group's proxies, and this run has none")
        did = act(self.net)
        try:
            time.sleep(ms / 1000)
        finally:
            netfaults.heal(self.net)
        return did

    def settle(self) -> int:
        """Wait until the Sentinels' master is the only master and every other running
        node replicates it with its link up; its index."""
        found: list[int] = []

        def settled() -> bool:
            if not self._sentinels_calm():
                return False
            found[:] = [self.node.primary_index()]
            for i, node in enumerate(self.node.nodes):
                if not node.is_running():
                    continue
                info = _replication(node)
                if (info.get("role") == "master") != (i == found[0]):
                    return False
                if i != found[0] and info.get("master_link_status") != "up":
                    return False
            return True

        try:
            _wait(settled)
        except NodeError as exc:
            raise NodeError(f"{exc} (the group after a fault)") from exc
        return found[0]

    def _sentinels_calm(self) -> bool:
        """Whether every Sentinel sees the master up, agreed on and not being failed over
        (flags ``master`` alone): a pause or a partition shorter than the failover may
        still have started one, and a failover the nemesis did not wait for is one the
        checker cannot know about."""
        masters = set()
        for sentinel in self.node.sentinels:
            client = sentinel.client(0.5)
            try:
                master: Any = client.sentinel_master(MASTER_NAME)
            finally:
                client.close()
            if str(master.get("flags")) != "master":
                return False
            masters.add((str(master.get("ip")), int(master.get("port", 0))))
        return len(masters) == 1

    def final_state(self, keys: JobKeys) -> FinalState:
        """What the settled group's master holds (a split brain healed just before the
        end must not leave the read to the old side)."""
        self.settle()
        final = super().final_state(keys)
        self._record_unplanned()
        return final

    def _record_unplanned(self) -> None:
        """Stop the watch and write each failover no fault caused to the history (once)."""
        if self._unplanned_recorded:
            return
        self._unplanned_recorded = True
        self.watch.stop()
        windows = list(self.windows)
        if self._fault_started is not None:  # a fault cut short: its failover is its own
            windows.append((self._fault_started, self.history.now()))
        for change in self.watch.unplanned(windows):
            self.history.add("info", NEMESIS, UNPLANNED, change.to_data())

    # --- single-node faults make no sense on a group --------------------------------------

    def kill(self, keys: JobKeys, downtime_ms: int, *, wipe: bool) -> dict[str, Any]:
        raise NodeError("redis-kill and redis-wipe act on one node: on a group use "
                        "redis-kill-primary")  # fmt: skip

    def restart_empty(self, keys: JobKeys) -> dict[str, Any]:
        raise NodeError("redis-restart-empty acts on one node: on a group use redis-kill-primary")

    def pause(self, ms: int) -> dict[str, Any]:
        raise NodeError("redis-pause acts on one node: on a group use redis-pause-primary")


def _wait(check: Callable[[], bool]) -> None:
    settle("the replicated group", "one master and its replicas in sync", check, SETTLE_S)


def _replication(node: RedisNode) -> dict[str, Any]:
    client = node.client(socket_timeout=1, socket_connect_timeout=1)
    try:
        info: dict[str, Any] = client.info("replication")
        return info
    finally:
        client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
