"""Known-buggy engines: each departs from the real one by one classic mistake.

They exist to prove that the suite has teeth: every one of them must fail it, and the
real engine must pass it with the same settings. Each overrides only the worker's
documented extension points (see :class:`engine.worker.Worker`) or the engine's bootstrap,
never a private step, so a refactor of the worker cannot silently change what a variant
does. Each is an :class:`engine.plugins.Engine` factory, usable as ``--engine
faults.buggy:NAME``; :data:`VARIANTS` lists them. Apart from its bug each behaves like the
real engine, so a fault-free run of any of them gives the right counts: only faults (or
the checker's atomicity samples) tell them apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import msgpack
import redis

from engine import crashpoints as cp
from engine.count import Tally
from engine.job import FINISHED_STATES, JobInfo, JobSettings, bootstrap, require_job
from engine.keys import GROUP, JobKeys
from engine.plugins import DefaultEngine, Engine, Runnable
from engine.session import CommitResult, Delivery
from engine.tasks import Task
from engine.worker import Batch, Worker


def _bookkeep(worker: Worker, batch: Batch) -> None:
    """What the commit function does besides XACK and ZINCRBY, for variants that bypass it."""
    keys, client = worker.session.keys, worker.session.client
    pipe = client.pipeline(transaction=True)
    pipe.sadd(keys.done, *batch.entry_ids)
    pipe.hincrby(keys.job, "tasks_done", len(batch.deliveries))
    pipe.hincrby(keys.job, "bytes_done", batch.nbytes)
    pipe.execute()
    state, n, done, failed = client.hmget(
        keys.job, "state", "n_tasks", "tasks_done", "tasks_failed"
    )
    if state == b"ready" and int(done or 0) + int(failed or 0) >= int(n or 0):
        client.hset(keys.job, "state", "done")


def _pairs(batch: Batch) -> list[tuple[bytes, int]]:
    """The batch's (word, count) pairs, whether or not the worker has packed them yet (the
    real worker packs a batch into msgpack arrays, ``[word, n, word, n, ...]``, and frees
    its tally before it commits)."""
    if batch.packed is None:
        return list(batch.tally.items())
    flat: list[Any] = []
    for part in batch.packed[1]:
        flat.extend(msgpack.unpackb(part, raw=True))
    return list(zip(flat[0::2], flat[1::2], strict=True))


def _add_counts(worker: Worker, batch: Batch, *, one_call_per_word: bool = False) -> None:
    client, counts = worker.session.client, worker.session.keys.counts
    pipe = client.pipeline(transaction=False)
    for word, n in _pairs(batch):
        if one_call_per_word:
            client.zincrby(counts, n, word)
        else:
            pipe.zincrby(counts, n, word)
    pipe.execute()


def _xack(worker: Worker, entry_ids: Sequence[str]) -> int:
    session = worker.session
    return int(session.client.xack(session.keys.tasks, GROUP, *entry_ids))


class AckBeforeCount(Worker):
    """1. Acknowledges each task when it arrives, then counts it in a separate call.

    A crash between the two loses the task's counts: nobody will ever redeliver it.
    """

    def count_into(self, batch: Batch, delivery: Delivery) -> None:
        _xack(self, [delivery.entry_id])
        super().count_into(batch, delivery)

    def commit(self, batch: Batch) -> CommitResult:
        cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
        _add_counts(self, batch)
        _bookkeep(self, batch)
        return CommitResult(True)


class CountThenAck(Worker):
    """2. Adds the counts, then acknowledges, in two separate non-atomic calls.

    A crash between them leaves counted tasks pending; they are counted again.
    """

    def commit(self, batch: Batch) -> CommitResult:
        _add_counts(self, batch)
        cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
        _xack(self, batch.entry_ids)
        _bookkeep(self, batch)
        return CommitResult(True)


class IgnoreAckResult(Worker):
    """3. Acknowledges and counts in one transaction, but ignores what XACK returned.

    A straggler whose task was stolen still adds its counts: the task counts twice.
    """

    def commit(self, batch: Batch) -> CommitResult:
        cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
        session = self.session
        pipe = session.client.pipeline(transaction=True)
        pipe.xack(session.keys.tasks, GROUP, *batch.entry_ids)
        for word, n in _pairs(batch):
            pipe.zincrby(session.keys.counts, n, word)
        pipe.execute()
        _bookkeep(self, batch)
        return CommitResult(True)


class NeverClaims(Worker):
    """4. Never steals stale tasks: a crashed worker's task stays pending for ever."""

    def next_delivery(self, wait_ms: int | None) -> Delivery | None:
        delivery = self.session.read_new(wait_ms)
        if delivery is not None:
            cp.reach(cp.WORKER_AFTER_READ, **self.task_context(delivery))
        return delivery


class ExitsWhenEmpty(Worker):
    """5. Stops as soon as a read comes back empty, without looking at pending tasks.

    Whatever a crashed worker held is left to nobody.
    """

    def finished(self) -> bool:
        return True


class PerWordCalls(Worker):
    """7. Increments each word in its own call and acknowledges last.

    Readers see half-applied tasks, and a crash in between counts words twice.
    """

    def commit(self, batch: Batch) -> CommitResult:
        _add_counts(self, batch, one_call_per_word=True)
        cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
        _xack(self, batch.entry_ids)
        _bookkeep(self, batch)
        return CommitResult(True)


class MemoryProgress(Worker):
    """8. Remembers in its own memory which tasks it has counted, and trusts that over Redis.

    After Redis restarts from an older snapshot it is handed those tasks again, skips
    them as done, and acknowledges them without their counts: the work is lost.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counted: set[int] = set()

    def count_into(self, batch: Batch, delivery: Delivery) -> None:
        if delivery.task.index in self.counted:
            skipped = Batch(Tally(self.settings.tokenizer), [delivery])
            _xack(self, [delivery.entry_id])
            _bookkeep(self, skipped)
            return
        super().count_into(batch, delivery)

    def commit(self, batch: Batch) -> CommitResult:
        result = super().commit(batch)
        if result.accepted:
            self.counted.update(d.task.index for d in batch.deliveries)
        return result


@dataclasses.dataclass
class _WorkerEngine(DefaultEngine):
    worker_class: type[Worker] = Worker

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.worker_class(client, job_id, **options)


@contextlib.contextmanager
def _crashpoints_off() -> Iterator[None]:
    """Run the real bootstrap of an empty task list without reaching ``driver.bootstrap``.

    Otherwise the first arrival at that point would come before any task is added, and a
    fault on it (``driver.bootstrap#1``, the simplest one) would miss the bug entirely.
    """
    hook = cp._hook
    cp.install(None)
    try:
        yield
    finally:
        cp.install(hook)


class _RepeatingBootstrap(DefaultEngine):
    """6. Bootstraps with auto-generated IDs and no check of what is already there.

    A driver that crashes mid-bootstrap and is started again adds the tasks again, and
    the job, which waits for every entry of the stream, counts them twice.
    """

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        raw = client.hget(keys.job, "state")
        state = raw.decode() if isinstance(raw, bytes) else raw
        if state in FINISHED_STATES:
            return require_job(client, keys)
        if state is None:
            with _crashpoints_off():  # its own arrivals are the per-task ones below
                bootstrap(client, keys, settings, [])  # creates the job hash and the group
            client.hset(keys.job, "state", "bootstrapping")
        for task in tasks:
            client.xadd(keys.tasks, task.to_fields())  # type: ignore[arg-type]
            cp.reach(cp.DRIVER_BOOTSTRAP, added=task.index + 1, total=len(tasks))
        n = int(client.xlen(keys.tasks))
        client.hset(keys.job, mapping={"state": "ready" if n else "done", "n_tasks": n})
        client.hset(keys.job, "bytes_total", sum(t.size for t in tasks))
        return require_job(client, keys)


def ack_before_count() -> Engine:
    return _WorkerEngine(AckBeforeCount)


def count_then_ack() -> Engine:
    return _WorkerEngine(CountThenAck)


def ignore_ack_result() -> Engine:
    return _WorkerEngine(IgnoreAckResult)


def never_claims() -> Engine:
    return _WorkerEngine(NeverClaims)


def exits_when_empty() -> Engine:
    return _WorkerEngine(ExitsWhenEmpty)


def repeating_bootstrap() -> Engine:
    return _RepeatingBootstrap()


def per_word_calls() -> Engine:
    return _WorkerEngine(PerWordCalls)


def memory_progress() -> Engine:
    return _WorkerEngine(MemoryProgress)


VARIANTS = {
    "ack_before_count": "faults.buggy:ack_before_count",
    "count_then_ack": "faults.buggy:count_then_ack",
    "ignore_ack_result": "faults.buggy:ignore_ack_result",
    "never_claims": "faults.buggy:never_claims",
    "exits_when_empty": "faults.buggy:exits_when_empty",
    "repeating_bootstrap": "faults.buggy:repeating_bootstrap",
    "per_word_calls": "faults.buggy:per_word_calls",
    "memory_progress": "faults.buggy:memory_progress",
}
"""Name -> ``--engine`` spec of every known-buggy variant."""
SCENARIOS = {"memory_progress": "redis-wipe-after-commit-worker-lives"}
"""Name -> a regression scenario (``tests/scenarios/NAME.json``) that the variant fails
every time, for the variants whose catch by the drawn scenarios needs a rare draw (here a
loss of Redis' data after a commit, while the committing worker lives on)."""
