"""Buggy engines that keep the old behaviour of the bugs of issue 11 (found by review).

Same plug-in contract as :mod:`faults.buggy` (``--engine faults.buggy_review:NAME``):
each departs from the real engine by one of the reproduced bugs and is otherwise the
real engine, so a fault-free run of any of them counts exactly (see
``tests/test_buggy_review_variants.py``), and a scenario under ``tests/scenarios/``
fails it (see :data:`SCENARIOS`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis

from engine import connection
from engine.heartbeat import Heartbeat
from engine.job import JobInfo, JobSettings, bootstrap, read_job
from engine.keys import JobKeys
from engine.plugins import DefaultEngine, Engine, Runnable
from engine.tasks import Task
from engine.worker import Worker


class _BootstrapOnlyWhenMissing(DefaultEngine):
    """Bug 1. Bootstraps only a job that Redis does not have at all.

    A Redis restarted from a snapshot taken mid-bootstrap comes back with the job in
    state ``bootstrapping`` and part of its tasks; this bootstrap leaves it so, and the
    job waits for ever for tasks nobody adds.
    """

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        found = connection.call(client, lambda: read_job(client, keys))
        if found is not None:
            return found
        return bootstrap(client, keys, settings, tasks)


class _WorkLoopHeartbeat(Heartbeat):
    """Renews claims only when the counting loop calls :meth:`beat`, between blocks, and
    never says the worker is alive."""

    def start(self) -> None:
        self._renewed = time.monotonic()

    def stop(self) -> None:
        pass

    def beat(self) -> None:
        if time.monotonic() - self._renewed < self.claim_timeout_ms / 3000:
            return
        with self._lock:
            held = list(self._held)
        owned = self.session.renew_all(held) if held else []  # type: ignore[attr-defined]
        self._renewed = time.monotonic()
        with self._lock:
            self.lost.update(e for e, ours in zip(held, owned, strict=True) if not ours)


class RenewsBetweenBlocks(Worker):
    """Bug 4. Renews its claims only from the counting loop, between 8 MB blocks.

    A live worker busy anywhere else (reading, importing, waiting for a core) for a claim
    timeout is robbed, every theft counts as a delivery, and after ``max_attempts`` of
    them a readable task is dead-lettered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat = _WorkLoopHeartbeat(self.session, self.settings.claim_timeout_ms)


class _WorkerEngine(DefaultEngine):
    def __init__(self, worker_class: type[Worker]) -> None:
        self.worker_class = worker_class

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.worker_class(client, job_id, **options)


def renews_between_blocks() -> Engine:
    return _WorkerEngine(RenewsBetweenBlocks)


def bootstrap_only_when_missing() -> Engine:
    return _BootstrapOnlyWhenMissing()


VARIANTS = {
    "bootstrap_only_when_missing": "faults.buggy_review:bootstrap_only_when_missing",
    "renews_between_blocks": "faults.buggy_review:renews_between_blocks",
}
"""Name -> ``--engine`` spec of every variant kept from the review of issue 11."""
SCENARIOS = {
    "bootstrap_only_when_missing": "redis-snapshot-mid-bootstrap",
    "renews_between_blocks": "slow-reader-keeps-its-claim",
}
"""Name -> the regression scenario (``tests/scenarios/NAME.json``) that the variant fails."""
