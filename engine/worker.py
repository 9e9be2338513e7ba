"""The worker loop: take tasks, count them, commit them atomically, repeat.

A worker keeps nothing that matters in memory. Whatever it was doing when it died is
still pending in the group and is stolen by another worker's XAUTOCLAIM once idle for
the claim timeout; whatever it commits late after being robbed is refused by the commit
function. So workers can crash, stall, or run on other hosts at will.

Redis spends a few microseconds per distinct word per commit, so a worker gathers the
tasks it can get without waiting into one batch and commits their merged counts at once:
common words then cost one update per batch instead of one per task. The commit still
acknowledges exactly the tasks whose counts it adds, or none of them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time

import redis

from engine import crashpoints as cp
from engine.count import Tally
from engine.errors import InputError, JobNotFoundError
from engine.heartbeat import Heartbeat
from engine.inputs import iter_blocks
from engine.job import JobSettings
from engine.keys import JobKeys
from engine.replica_sync import ReplicaSync
from engine.roots import check_task, worker_roots
from engine.session import (
    CommitResult,
    Delivery,
    GroupMissingError,
    WorkerSession,
    pack_pairs,
)

log = logging.getLogger("wordcount.worker")
MAX_PAIRS_PER_CALL = 50_000
"""Pairs per function call; more are staged in parts of this size first and merged one
part per call. Redis spends about 2 us per pair, so a call takes about 0.1 s: far from
Redis's busy threshold (5 s, past which it answers other clients BUSY) even on a loaded
machine, whatever the vocabulary."""
JOB_POLL_S = 0.05
EXTENSION_POINTS = (
    "next_delivery", "count_into", "commit", "finished", "task_context", "batch_context",
)  # fmt: skip
"""The methods of :class:`Worker` that subclasses may override (see its docstring)."""


@dataclasses.dataclass(frozen=True)
class BatchLimits:
    """When a worker stops gathering tasks and commits what it has.

    Each commit costs Redis time per distinct word of its batch, and larger batches repeat
    fewer words; larger still gain nothing and leave more to redo after a crash
    (measurements in docs/performance.md)."""

    max_tasks: int = 256
    max_bytes: int = 64 << 20
    max_age_s: float = 5.0


@dataclasses.dataclass
class Batch:
    """Tasks counted but not yet committed, and their merged counts."""

    tally: Tally
    deliveries: list[Delivery] = dataclasses.field(default_factory=list)
    nbytes: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)
    packed: tuple[int, list[bytes]] | None = None
    """The merged counts as msgpack parts (:meth:`Tally.packed`), once packed."""

    def pack(self) -> tuple[int, list[bytes]]:
        """Pack the counts (once) and free the tally: only the parts are needed now."""
        if self.packed is None:
            self.packed = self.tally.packed(MAX_PAIRS_PER_CALL)
            self.tally = Tally(self.tally.tokenizer)
        return self.packed

    @property
    def entry_ids(self) -> list[str]:
        return [d.entry_id for d in self.deliveries]


@dataclasses.dataclass
class WorkerStats:
    """What one worker did, for logs and tests."""

    committed: int = 0
    refused: int = 0
    dead_lettered: int = 0
    claimed: int = 0


def _settle(
    pending: concurrent.futures.Future[None] | None, ignore: type[Exception] | None = None
) -> None:
    """Wait for the commit in flight, if any; its error (but ``ignore``) is raised here."""
    if pending is None:
        return
    error = pending.exception()
    if error is not None and (ignore is None or not isinstance(error, ignore)):
        raise error


class Worker:
    """One consumer of a job's task stream.

    Extension points: subclasses (``faults/buggy.py``, other engines) override only these
    public steps, whose contract a refactor of the loop must keep:

    - :meth:`next_delivery`: the next task to count, stolen or new (``None``: none ready);
      reports ``worker.after_claim`` / ``worker.after_read``;
    - :meth:`count_into`: count one delivery into the batch (reports ``worker.after_count``);
    - :meth:`commit`: commit the batch atomically (reports ``worker.before_commit``);
    - :meth:`finished`: whether an idle worker may exit (the job is done);
    - :meth:`task_context` / :meth:`batch_context`: the crash points' context.

    ``session`` (the Redis operations), ``settings`` and ``stats`` are public attributes.
    """

    def __init__(
        self,
        client: redis.Redis,
        job_id: str,
        *,
        consumer: str | None = None,
        deadline_s: float = 60.0,
        wait_for_job_s: float = 30.0,
        limits: BatchLimits | None = None,
    ) -> None:
        self.keys = keys = JobKeys(job_id)
        self.session = WorkerSession(client, keys, consumer=consumer, deadline_s=deadline_s)
        self.wait_for_job_s = wait_for_job_s
        self.limits = limits or BatchLimits()
        self.stats = WorkerStats()
        self.settings = JobSettings()
        self._stale_checked = float("-inf")
        self.heartbeat = Heartbeat(self.session, self.settings.claim_timeout_ms)
        self.sync = ReplicaSync.from_env()  # --sync-replicas: WAIT after each commit

    def run(self) -> WorkerStats:
        """Work until the job is finished.

        A batch is committed on a second thread while the next one is gathered: Redis
        spends about 2 us per distinct word on a commit, as long as counting the batch on
        a large vocabulary, and a worker that waited for it left its core idle. At most
        one commit is in flight, and the job is only looked at once it has returned.
        """
        self.settings = self._wait_for_job()
        self.heartbeat.claim_timeout_ms = self.settings.claim_timeout_ms
        self.heartbeat.start()
        try:
            return self._loop()
        finally:
            self.heartbeat.stop()

    def _loop(self) -> WorkerStats:
        idle = False
        with concurrent.futures.ThreadPoolExecutor(1, "commit") as committer:
            pending: concurrent.futures.Future[None] | None = None
            while True:
                try:
                    # After a commit, look without waiting: the job may be over, and a
                    # worker that then waited for a task would hold up the run's exit.
                    batch = self._gather(wait=idle)
                    idle = batch is None
                    _settle(pending)
                    pending = None
                    if batch is not None:
                        batch.pack()  # here: Arrow's memory stays in one thread's heap
                        pending = committer.submit(self._commit_batch, batch)
                    elif self.finished():
                        return self.stats
                except GroupMissingError:
                    _settle(pending, GroupMissingError)
                    pending = None
                    self.heartbeat.release_all()
                    log.warning("job %s vanished from Redis; waiting for it", self.keys.job_id)
                    self.settings = self._wait_for_job()

    def finished(self) -> bool:
        """Whether the job is over, so an idle worker may exit (an extension point)."""
        return self.session.finished()

    def _wait_for_job(self) -> JobSettings:
        """The job's settings, waiting for it to appear (a driver may be bootstrapping)."""
        give_up = time.monotonic() + self.wait_for_job_s
        while True:
            info = self.session.job()
            if info is not None:
                return info.settings
            if time.monotonic() > give_up:
                raise JobNotFoundError(
                    f"no job {self.session.keys.job_id!r} appeared in Redis within "
                    f"{self.wait_for_job_s:.0f} s: start it with `wordcount run --job ID ...`"
                )
            time.sleep(JOB_POLL_S)

    def _gather(self, wait: bool = True) -> Batch | None:
        """Count tasks into a batch: wait for the first (if ``wait``), then take only what
        is ready. The wait is short (50 ms at most): it is how long a finished job can
        keep an idle worker, and so the whole run, from exiting."""
        batch = Batch(Tally(self.settings.tokenizer))
        limits = self.limits
        wait_ms: int | None = max(10, min(50, self.settings.claim_timeout_ms // 2))
        if not wait:
            wait_ms = None
        while (
            len(batch.deliveries) < limits.max_tasks
            and batch.nbytes < limits.max_bytes
            and time.monotonic() - batch.started < limits.max_age_s
        ):
            delivery = self._next(wait_ms)
            if delivery is None:
                break
            wait_ms = None
            if delivery.entry_id in batch.entry_ids:
                # Our own task, re-claimed because gathering outlasted the claim timeout:
                # the claim just renewed it. Counting it again would list it twice.
                continue
            self.count_into(batch, delivery)
        return batch if batch.deliveries else None

    def _next(self, wait_ms: int | None) -> Delivery | None:
        """The next delivery (:meth:`next_delivery`), held by the heartbeat from now on."""
        delivery = self.next_delivery(wait_ms)
        if delivery is not None:
            self.heartbeat.hold([delivery.entry_id])
        return delivery

    def next_delivery(self, wait_ms: int | None) -> Delivery | None:
        """A stale task to steal if there is one, else a new one."""
        while self._stale_check_due() and (
            delivery := self.session.claim_stale(self.settings.claim_timeout_ms)
        ):
            self.stats.claimed += 1
            self._stale_checked = float("-inf")  # one stale task: look for more at once
            cp.reach(cp.WORKER_AFTER_CLAIM, **self.task_context(delivery))
            if delivery.deliveries <= self.settings.max_attempts:
                return delivery
            self._dead_letter(delivery, f"gave up after {delivery.deliveries - 1} attempts")
        delivery = self.session.read_new(wait_ms)
        if delivery is not None:
            cp.reach(cp.WORKER_AFTER_READ, **self.task_context(delivery))
        return delivery

    def _stale_check_due(self) -> bool:
        """Whether to look for stale tasks before reading a new one: at most every tenth
        of the claim timeout (and 100 ms). A task turns stale only after a whole timeout,
        so this hardly delays stealing it, and it saves a round trip on most tasks."""
        now = time.monotonic()
        if now - self._stale_checked < min(0.1, self.settings.claim_timeout_ms / 10_000):
            return False
        self._stale_checked = now
        return True

    def task_context(self, delivery: Delivery) -> dict[str, object]:
        return {
            "consumer": self.session.consumer,
            "entry": delivery.entry_id,
            "index": delivery.task.index,
            "deliveries": delivery.deliveries,
        }

    def batch_context(self, batch: Batch) -> dict[str, object]:
        return {
            **self.task_context(batch.deliveries[0]),
            "entries": batch.entry_ids,
            "indexes": [d.task.index for d in batch.deliveries],
        }

    def count_into(self, batch: Batch, delivery: Delivery) -> None:
        """Count one task into the batch (the heartbeat keeps its claim meanwhile)."""
        tally = Tally(self.settings.tokenizer)
        try:
            check_task(delivery.task, worker_roots(self.settings.input_roots))
            for block in iter_blocks(delivery.task):
                tally.add(block)
                self.heartbeat.beat()
                if delivery.entry_id in self.heartbeat.lost:
                    return  # this task was stolen while we counted: the thief has it
        except InputError as exc:
            self._dead_letter(delivery, str(exc))
            return
        cp.reach(cp.WORKER_AFTER_COUNT, **self.task_context(delivery))
        batch.tally.merge(tally)
        batch.deliveries.append(delivery)
        batch.nbytes += delivery.task.size

    def _commit_batch(self, batch: Batch) -> None:
        self.heartbeat.watch_current_thread()
        try:
            result = self.commit(batch)
        finally:
            self.heartbeat.release(batch.entry_ids)
        cp.reach(
            cp.WORKER_AFTER_COMMIT,
            **self.batch_context(batch),
            accepted=result.accepted,
            reason=result.reason,
        )
        if result.accepted:
            self.stats.committed += len(batch.deliveries)
            return
        self.stats.refused += 1
        log.info("commit of %s refused: %s", batch.entry_ids, result.reason)
        if len(batch.deliveries) > 1:
            self._retry_singly(batch)

    def _retry_singly(self, batch: Batch) -> None:
        """A batch was refused because some task in it was stolen: the rest are still ours,
        so count and commit them one by one (rare: it takes a worker stalled for a whole
        claim timeout)."""
        for delivery in batch.deliveries:
            single = Batch(Tally(self.settings.tokenizer))
            self.heartbeat.hold([delivery.entry_id])  # found lost at once if stolen
            self.count_into(single, delivery)
            if single.deliveries:
                self._commit_batch(single)

    def commit(self, batch: Batch) -> CommitResult:
        """Commit in one call, or, when the pairs are too many for one bounded call, stage
        them in parts under a staging hash of this attempt's own, commit, and merge the
        parts one call each (engine/wordcount.lua says why every call is bounded).

        A staging hash can lose writes if Redis rolls back to a snapshot; the commit sees
        that (``stage-incomplete``) and the worker stages again, under a new key.
        """
        _, parts = batch.pack()
        first = batch.deliveries[0].entry_id
        result = CommitResult(False, "not-tried")
        for _ in range(3):
            stage_key, inline = None, parts[0]
            if len(parts) > 1:
                stage_key, inline = self.session.stage_key(first), pack_pairs([])
                if not self._stage(stage_key, first, parts):
                    self.session.discard_stage(stage_key)
                    return CommitResult(False, "not-owner")
            cp.reach(cp.WORKER_BEFORE_COMMIT, **self.batch_context(batch))
            result = self.sync.commit(
                self.session, batch.entry_ids, inline, batch.nbytes, stage_key, len(parts)
            )
            if stage_key is not None and result.accepted:
                self.session.apply_all(stage_key, self.heartbeat.beat)
            elif stage_key is not None:
                self.session.discard_stage(stage_key)
            if result.reason != "stage-incomplete":
                return result
        return result

    def _stage(self, stage_key: str, first: str, parts: list[bytes]) -> bool:
        for number, part in enumerate(parts, 1):
            if not self.session.stage(stage_key, first, number, part):
                return False
            self.heartbeat.beat()
        return True

    def _dead_letter(self, delivery: Delivery, error: str) -> None:
        self.heartbeat.release([delivery.entry_id])
        if self.session.dead_letter(delivery, error):
            self.stats.dead_lettered += 1
            log.warning("task %s dead-lettered: %s", delivery.task.describe(), error)
