"""The worker loop: claim or read a task, count it, commit it atomically, repeat.

A worker keeps nothing that matters in memory. Whatever it was doing when it died is
still pending in the group and is stolen by another worker's XAUTOCLAIM once idle for
the claim timeout; whatever it commits late after being robbed is refused by the commit
function. So workers can crash, stall, or run on other hosts at will.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter

import redis

from engine import crashpoints as cp
from engine.errors import InputError, JobNotFoundError
from engine.inputs import iter_texts
from engine.job import JobSettings
from engine.keys import JobKeys
from engine.session import (
    CommitResult,
    Delivery,
    GroupMissingError,
    WorkerSession,
    pack_pairs,
)
from engine.tokenize import encode

log = logging.getLogger("wordcount.worker")
MAX_PAIRS_PER_CALL = 50_000
JOB_POLL_S = 0.2


@dataclasses.dataclass
class WorkerStats:
    """What one worker did, for logs and tests."""

    committed: int = 0
    refused: int = 0
    dead_lettered: int = 0
    claimed: int = 0


class Worker:
    """One consumer of a job's task stream."""

    def __init__(
        self,
        client: redis.Redis,
        job_id: str,
        *,
        consumer: str | None = None,
        deadline_s: float = 60.0,
        wait_for_job_s: float = 30.0,
    ) -> None:
        keys = JobKeys(job_id)
        self.session = WorkerSession(client, keys, consumer=consumer, deadline_s=deadline_s)
        self.wait_for_job_s = wait_for_job_s
        self.stats = WorkerStats()
        self.settings = JobSettings()

    def run(self) -> WorkerStats:
        """Work until the job is finished."""
        self.settings = self._wait_for_job()
        while True:
            try:
                if self._step():
                    continue
                if self.session.finished():
                    return self.stats
            except GroupMissingError:
                log.warning("job %s vanished from Redis; waiting for it", self.session.keys.job_id)
                self.settings = self._wait_for_job()

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

    def _step(self) -> bool:
        """Handle one task if there is one; ``False`` when none was available."""
        timeout = self.settings.claim_timeout_ms
        delivery = self.session.claim_stale(timeout)
        if delivery is not None:
            self.stats.claimed += 1
            cp.reach(cp.WORKER_AFTER_CLAIM, **self._context(delivery))
            if delivery.deliveries > self.settings.max_attempts:
                self._dead_letter(delivery, f"gave up after {delivery.deliveries - 1} attempts")
                return True
        else:
            delivery = self.session.read_new(block_ms=max(10, min(500, timeout // 2)))
            if delivery is None:
                return False
            cp.reach(cp.WORKER_AFTER_READ, **self._context(delivery))
        self._process(delivery)
        return True

    def _context(self, delivery: Delivery) -> dict[str, object]:
        return {
            "consumer": self.session.consumer,
            "entry": delivery.entry_id,
            "index": delivery.task.index,
            "deliveries": delivery.deliveries,
        }

    def _process(self, delivery: Delivery) -> None:
        try:
            counts = self._count(delivery)
        except InputError as exc:
            self._dead_letter(delivery, str(exc))
            return
        if counts is None:
            return  # robbed while counting: the thief commits it
        cp.reach(cp.WORKER_AFTER_COUNT, **self._context(delivery))
        pairs = sorted((encode(word), n) for word, n in counts.items())
        result = self._commit(delivery, pairs)
        if result.accepted:
            self.stats.committed += 1
        else:
            self.stats.refused += 1
            log.info("commit of %s refused: %s", delivery.entry_id, result.reason)
        cp.reach(
            cp.WORKER_AFTER_COMMIT,
            **self._context(delivery),
            accepted=result.accepted,
            reason=result.reason,
        )

    def _commit(self, delivery: Delivery, pairs: list[tuple[bytes, int]]) -> CommitResult:
        """Commit, staging first when the pairs are too many for one call.

        A staging hash can lose writes if Redis rolls back to a snapshot; the commit sees
        that (``stage-incomplete``) and the worker stages again.
        """
        for _ in range(3):
            staged: list[int] = []
            inline = pairs
            if len(pairs) > MAX_PAIRS_PER_CALL:
                if not self._stage(delivery, pairs):
                    return CommitResult(False, "not-owner")
                staged, inline = [len(pairs)], []
            cp.reach(cp.WORKER_BEFORE_COMMIT, **self._context(delivery))
            result = self.session.commit(
                [delivery.entry_id], pack_pairs(inline), delivery.task.size, staged
            )
            if result.reason != "stage-incomplete":
                return result
        return result

    def _count(self, delivery: Delivery) -> Counter[str] | None:
        """Count the task's words, renewing the claim between blocks of a long input."""
        tokenizer = self.settings.tokenizer
        counts: Counter[str] = Counter()
        renew_every = self.settings.claim_timeout_ms / 3000
        last_renew = time.monotonic()
        for text in iter_texts(delivery.task):
            tokenizer.count([text], into=counts)
            if time.monotonic() - last_renew > renew_every:
                if not self.session.renew(delivery.entry_id):
                    return None
                last_renew = time.monotonic()
        return counts

    def _stage(self, delivery: Delivery, pairs: list[tuple[bytes, int]]) -> bool:
        for start in range(0, len(pairs), MAX_PAIRS_PER_CALL):
            part = pack_pairs(pairs[start : start + MAX_PAIRS_PER_CALL])
            if not self.session.stage(delivery.entry_id, part):
                return False
        return True

    def _dead_letter(self, delivery: Delivery, error: str) -> None:
        if self.session.dead_letter(delivery, error):
            self.stats.dead_lettered += 1
            log.warning("task %s dead-lettered: %s", delivery.task.describe(), error)
