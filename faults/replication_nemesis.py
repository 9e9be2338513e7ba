"""Nemesis actions on a replicated group, as plain functions the fault model can name.

Each takes the :class:`~engine.nodes.replicated.ReplicatedGroup` (and a seeded
``random.Random`` where it chooses) and returns a JSON-able dict of what it did, for the
history. None of them restarts a node unless it says so: the caller decides how long a
fault lasts.

Also here: :func:`gate_hook`, a crash-point hook that holds a worker right after its
first acknowledged commit until the test says go, so a fault lands mid-job at a known
point whatever the machine's speed.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from engine import crashpoints as cp
from engine.errors import NodeError
from engine.nodes.replicated import ReplicatedGroup
from engine.plugins import DefaultEngine, Engine, Runnable

GATE_ENV = "WORDCOUNT_GATE_DIR"
SLOW_ENV = "WORDCOUNT_SLOW_COUNT_MS"
GATE_TIMEOUT_S = 120.0
FAILOVER_WAIT_S = 60.0
"""How long a killed primary stays down waiting for its failover. A Sentinel will not
start a second failover of one master within twice its failover timeout (8 s here), so
kills faster than that can outrun it."""


def kill_primary(group: ReplicatedGroup) -> dict[str, Any]:
    """SIGKILL the node the Sentinels call master."""
    index = group.primary_index()
    group.kill_node(index)
    return {"killed": [index], "primary": index}


def kill_nodes(group: ReplicatedGroup, count: int, rng: random.Random) -> dict[str, Any]:
    """SIGKILL ``count`` data nodes chosen at random among those running."""
    running = [i for i, node in enumerate(group.nodes) if node.is_running()]
    chosen = sorted(rng.sample(running, min(count, len(running))))
    for index in chosen:
        group.kill_node(index)
    return {"killed": chosen}


def kill_replicas(group: ReplicatedGroup, count: int) -> dict[str, Any]:
    """SIGKILL ``count`` replicas (never the primary): writes go on, WAIT cannot."""
    primary = group.primary_index()
    chosen = [i for i in range(len(group.nodes)) if i != primary][:count]
    for index in chosen:
        group.kill_node(index)
    return {"killed": chosen}


def restart_killed(group: ReplicatedGroup, limit: int | None = None) -> dict[str, Any]:
    """Start (up to ``limit``) killed data nodes again, each as a replica of the master."""
    down = [i for i, node in enumerate(group.nodes) if not node.is_running()]
    chosen = down if limit is None else down[:limit]
    for index in chosen:
        group.restart_node(index)
    return {"restarted": chosen}


def pause_node(group: ReplicatedGroup, index: int, ms: int) -> dict[str, Any]:
    """SIGSTOP a node for ``ms`` (past the Sentinels' down-after time, a primary is
    failed over while frozen, and comes back to find itself demoted)."""
    group.pause_node(index)
    try:
        time.sleep(ms / 1000)
    finally:
        group.resume_node(index)
    return {"paused": index, "ms": ms}


def freeze_primary(group: ReplicatedGroup, index: int, ms: int) -> dict[str, Any]:
    """SIGSTOP the primary until a replica is promoted, then ``ms`` more.

    A pause of fixed length misses the moment that matters: woken right after the
    promotion, the old primary is still a master and the other replica still follows it
    (the Sentinels move it only once they see the promotion, up to a second later), so
    ``WAIT 1`` there succeeds for writes the failover loses. This pause ends at that
    moment (``ms`` = 0; the promoted replica's ``ROLE`` is watched) or just after it.
    """
    group.pause_node(index)
    started = time.monotonic()
    try:
        promoted = _wait_promotion(group, index)
        promoted_ms = round((time.monotonic() - started) * 1000)
        time.sleep(ms / 1000)
    finally:
        group.resume_node(index)
    return {"paused": index, "ms": ms, "promoted": promoted, "promoted_ms": promoted_ms}


def _wait_promotion(group: ReplicatedGroup, frozen: int) -> int:
    """The index of the first other node that answers ``ROLE`` with ``master``."""
    give_up = time.monotonic() + FAILOVER_WAIT_S
    clients = {i: node.client(socket_timeout=0.5) for i, node in enumerate(group.nodes)
               if i != frozen and node.is_running()}  # fmt: skip
    try:
        while time.monotonic() < give_up:
            for i, client in clients.items():
                with contextlib.suppress(redis.RedisError):
                    if client.execute_command("ROLE")[0] in (b"master", "master"):  # type: ignore[no-untyped-call]
                        return i
            time.sleep(0.01)
    finally:
        for client in clients.values():
            client.close()
    raise NodeError(f"no replica was promoted within {FAILOVER_WAIT_S:.0f} s of the freeze")


class RandomKiller:
    """Every ``every_s`` seconds, SIGKILL a random data node and restart it after
    ``downtime_s``, until stopped. What it did is in :attr:`actions`.

    The next period starts once the restarted node is in sync again, so one node at a time
    is short of the data (f = 1, what ``--sync-replicas 1`` promises to survive): with
    kills every second and a node back after 0.2 s but not yet synced, two of three nodes
    could lack the job and the Sentinels had only empty nodes to promote. A round that
    fails (a failover that did not come) is recorded in :attr:`errors`, and the next round
    first restarts whatever it left down."""

    def __init__(
        self, group: ReplicatedGroup, every_s: float, rng: random.Random, downtime_s: float = 0.2
    ) -> None:
        self.group = group
        self.every_s = every_s
        self.rng = rng
        self.downtime_s = downtime_s
        self.actions: list[dict[str, Any]] = []
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="random-killer", daemon=True)

    def start(self) -> RandomKiller:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._restart_down()
                index = self.rng.randrange(len(self.group.nodes))
                self.group.kill_node(index)
                time.sleep(self.downtime_s)
                self.group.restart_node(index, failover_timeout_s=FAILOVER_WAIT_S)
                self.actions.append({"killed": index, "t": time.time()})
                self.group.wait_in_sync(index)
            except (NodeError, redis.RedisError) as exc:  # reported by stop()
                self.errors.append(exc)

    def _restart_down(self) -> None:
        for i, node in enumerate(self.group.nodes):
            if not node.is_running():
                self.group.restart_node(i, failover_timeout_s=FAILOVER_WAIT_S)
                self.group.wait_in_sync(i)

    def stop(self) -> list[dict[str, Any]]:
        """Stop killing; the kills done. Raises the first failed round's error, if any
        (:attr:`errors` holds them all)."""
        self._stop.set()
        self._thread.join()
        if self.errors:
            raise self.errors[0]
        return self.actions


class SmallBatchEngine(DefaultEngine):
    """This project's engine with at most two tasks per commit, so that a job has many
    commits and a fault lands between them (``--engine
    faults.replication_nemesis:small_batches``)."""

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        from engine.worker import BatchLimits, Worker

        return Worker(client, job_id, limits=BatchLimits(max_tasks=2), **options)


def small_batches() -> Engine:
    return SmallBatchEngine()


class TrustsWaitEngine(SmallBatchEngine):
    """Buggy variant: the engine before ``engine.sentinel_confirm``, whose workers took
    ``WAIT K`` for proof that a commit survives (``--engine
    faults.replication_nemesis:trusts_wait``). A primary woken at its replica's
    promotion makes it lose acknowledged commits."""

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        from engine.replica_sync import ReplicaSync
        from engine.worker import Worker

        class TrustsWait(ReplicaSync):
            def _confirmed(self, client: redis.Redis, entry_ids: Sequence[str]) -> bool:
                return self._replicated(client)

        worker = super().worker(client, job_id, **options)
        assert isinstance(worker, Worker)
        worker.sync = TrustsWait(worker.sync.replicas)
        return worker


def trusts_wait() -> Engine:
    return TrustsWaitEngine()


def gate_hook() -> Callable[[str, dict[str, Any]], None]:
    """Hold this process after its first accepted commit until ``$GATE_DIR/go`` exists.

    It writes ``$GATE_DIR/committed-<pid>`` first, so the test knows when to act. With
    ``$WORDCOUNT_SLOW_COUNT_MS`` it also sleeps that long after counting each task, so
    that a job lasts long enough for periodic faults.
    Install with ``WORDCOUNT_CRASH_HOOK=faults.replication_nemesis:gate_hook``.
    """
    folder = Path(os.environ[GATE_ENV])
    slow_s = float(os.environ.get(SLOW_ENV, "0")) / 1000
    held = threading.Event()

    def hook(point: str, context: dict[str, Any]) -> None:
        if point == cp.WORKER_AFTER_COUNT and slow_s > 0:
            time.sleep(slow_s)
        if point != cp.WORKER_AFTER_COMMIT or not context.get("accepted") or held.is_set():
            return
        held.set()
        (folder / f"committed-{os.getpid()}").touch()
        give_up = time.monotonic() + GATE_TIMEOUT_S
        while not (folder / "go").exists() and time.monotonic() < give_up:
            time.sleep(0.02)

    return hook
