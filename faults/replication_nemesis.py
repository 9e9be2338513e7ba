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

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from engine import crashpoints as cp
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


class RandomKiller:
    """Every ``every_s`` seconds, SIGKILL a random data node and restart it after
    ``downtime_s``, until stopped. What it did is in :attr:`actions`."""

    def __init__(
        self, group: ReplicatedGroup, every_s: float, rng: random.Random, downtime_s: float = 0.2
    ) -> None:
        self.group = group
        self.every_s = every_s
        self.rng = rng
        self.downtime_s = downtime_s
        self.actions: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="random-killer", daemon=True)

    def start(self) -> RandomKiller:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            index = self.rng.randrange(len(self.group.nodes))
            try:
                self.group.kill_node(index)
                time.sleep(self.downtime_s)
                self.group.restart_node(index, failover_timeout_s=FAILOVER_WAIT_S)
                self.actions.append({"killed": index, "t": time.time()})
            except BaseException as exc:  # reported by stop(), not lost in a thread
                self.errors.append(exc)
                return

    def stop(self) -> list[dict[str, Any]]:
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
