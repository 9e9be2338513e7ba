"""Buggy engines that keep the old behaviour of the bugs of issue 11 (found by review).

Same plug-in contract as :mod:`faults.buggy` (``--engine faults.buggy_review:NAME``):
each departs from the real engine by one of the reproduced bugs and is otherwise the
real engine, so a fault-free run of any of them counts exactly (see
``tests/test_buggy_review_variants.py``), and a scenario under ``tests/scenarios/``
fails it (see :data:`SCENARIOS`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgpack
import redis
import redis.exceptions as rex

from engine import connection
from engine import crashpoints as cp
from engine.connection import is_busy
from engine.embedded import EmbeddedRedisError, EmbeddedWatch
from engine.heartbeat import Heartbeat
from engine.job import JobInfo, JobSettings, bootstrap, read_job
from engine.keys import JobKeys
from engine.plugins import DefaultEngine, Engine, Runnable
from engine.session import CommitResult, WorkerSession, pack_pairs
from engine.tasks import Task
from engine.worker import Batch, Worker

T = TypeVar("T")


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


class _NoBusyRetrySession(WorkerSession):
    """Lets BUSY through as an error, as every call did before it was retried."""

    def _call(self, operation: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return operation()
            except rex.ResponseError as exc:
                if is_busy(exc):
                    raise RuntimeError(str(exc)) from exc  # past call()'s retries
                raise

        return super()._call(once)


class UnboundedCommit(Worker):
    """Bug 2. Merges a whole batch, whatever its vocabulary, in its one commit call, and
    takes BUSY for a fatal error.

    A batch of 1.6 million distinct words keeps Redis busy past its busy threshold (5 s),
    every other client is answered BUSY, and the workers die: exit 1, result lost.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.session
        self.session = _NoBusyRetrySession(
            old.client, old.keys, consumer=old.consumer, deadline_s=old.deadline_s
        )
        self.heartbeat.session = self.session

    def commit(self, batch: Batch) -> CommitResult:
        _, parts = batch.pack()
        pairs: list[Any] = []
        for part in parts:
            pairs.extend(msgpack.unpackb(part, raw=True))
        packed = pack_pairs(list(zip(pairs[0::2], pairs[1::2], strict=True)))
        cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
        return self.session.commit(batch.entry_ids, packed, batch.nbytes)


class _SharedStageSession(WorkerSession):
    """Stages every attempt of a batch under one key named after its first entry, and
    never deletes what a refused attempt left there."""

    def stage_key(self, first_entry: str) -> str:
        return self.keys.stage(first_entry)

    def discard_stage(self, stage_key: str) -> None:
        pass


class SharedStageKey(Worker):
    """Bug 5. Stages under ``stage:<first entry>`` for every attempt and keeps leftovers.

    A batch ``[a, b]`` refused (``b`` was stolen) leaves its parts there; ``[a]`` alone is
    then staged over them, the commit finds more parts than it staged
    (``stage-incomplete``) every time, and ``a`` is dead-lettered.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.session
        self.session = _SharedStageSession(
            old.client, old.keys, consumer=old.consumer, deadline_s=old.deadline_s
        )
        self.heartbeat.session = self.session


class _BetweenPollsWatch(EmbeddedWatch):
    """Looks at the embedded node only when the driver's poll loop comes round, as the
    driver did before the watch had a thread of its own."""

    def start(self) -> None:
        pass  # no thread

    def between_polls(self) -> None:
        if not self.node.is_running():
            self.node.restart()
            self.restarts += 1


class _GivesUpWatch(EmbeddedWatch):
    """Ends its thread when a restart fails, as the watch did before a failed restart
    counted as one more death: a server killed again while it started stays down."""

    def _revive(self) -> EmbeddedRedisError | None:
        failed = self.failed_restarts
        error = super()._revive()
        if self.failed_restarts > failed:
            self._stop.set()  # the old thread died of the restart's exception here
        return error


class _EmbeddedGivesUpEngine(DefaultEngine):
    """Bug 3, second form. The driver's watch gives up on its embedded Redis when one
    restart fails (the server killed again while it started): the job then waits on a
    Redis nobody starts, until its calls give up a minute later."""

    embedded_watch = _GivesUpWatch


class _NoEmbeddedRestartEngine(DefaultEngine):
    """Bug 3. The driver restarts its embedded Redis only between polls.

    A Redis killed while the driver sits in a retried call (bootstrapping, reading the
    result, waiting for a commit that keeps Redis busy) is never restarted: the call
    retries for its whole deadline and the run ends with "did not answer for 60 s".
    """

    embedded_watch = _BetweenPollsWatch


class _WorkerEngine(DefaultEngine):
    def __init__(self, worker_class: type[Worker]) -> None:
        self.worker_class = worker_class

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.worker_class(client, job_id, **options)


def renews_between_blocks() -> Engine:
    return _WorkerEngine(RenewsBetweenBlocks)


def unbounded_commit() -> Engine:
    return _WorkerEngine(UnboundedCommit)


def shared_stage_key() -> Engine:
    return _WorkerEngine(SharedStageKey)


def bootstrap_only_when_missing() -> Engine:
    return _BootstrapOnlyWhenMissing()


def embedded_not_restarted() -> Engine:
    return _NoEmbeddedRestartEngine()


def embedded_restart_gives_up() -> Engine:
    return _EmbeddedGivesUpEngine()


VARIANTS = {
    "bootstrap_only_when_missing": "faults.buggy_review:bootstrap_only_when_missing",
    "renews_between_blocks": "faults.buggy_review:renews_between_blocks",
    "unbounded_commit": "faults.buggy_review:unbounded_commit",
    "shared_stage_key": "faults.buggy_review:shared_stage_key",
    "embedded_not_restarted": "faults.buggy_review:embedded_not_restarted",
    "embedded_restart_gives_up": "faults.buggy_review:embedded_restart_gives_up",
}
"""Name -> ``--engine`` spec of every variant kept from the review of issue 11."""
SCENARIOS = {
    "bootstrap_only_when_missing": "redis-snapshot-mid-bootstrap",
    "renews_between_blocks": "slow-reader-keeps-its-claim",
    "embedded_not_restarted": "embedded-redis-killed-mid-bootstrap",
    "unbounded_commit": "busy-threshold-one-large-commit",
    "embedded_restart_gives_up": "embedded-redis-killed-while-restarting",
    "shared_stage_key": "stolen-batch-split-between-attempts",
}
"""Name -> the regression scenario (``tests/scenarios/NAME.json``) that the variant fails.
``unbounded_commit``'s lowers Redis's busy threshold to 50 ms, so 100,000 distinct words
take one unbounded call past it. ``shared_stage_key``'s stops a worker with a staged
batch of two pieces or more until a thief steals its first task
(``worker-sigstop-robbed``), and its test makes the thief sleep a second after that claim
so that the worker renews the rest first (without the sleep, 2 runs in 6 caught it; with
it, 11 in 11, 5 of them beside two busy loops); the test still tries it several times;
tests/test_bounded_calls.py also reproduces it in process, every time."""
