"""The worker loop of a dataflow job: take a task, run its stage, commit, repeat.

Like the word count's worker it keeps nothing that matters in memory: a task it was
running when it died stays pending and is stolen (XAUTOCLAIM) once idle for the claim
timeout, and a commit it makes after being robbed is refused by ``flow_commit``. A task is
one partition of one stage; its output, routed to the next stage's partitions, is written
by the same atomic call that acknowledges it, so it is a checkpoint: a crash re-runs only
tasks not yet committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import redis

from engine import crashpoints as cp
from engine.errors import ConfigError, JobNotFoundError
from engine.flow import points
from engine.flow.codec import Pair, pack, unpack
from engine.flow.execute import Executor
from engine.flow.plan import Stage, plan_stages
from engine.flow.program import parse_program
from engine.flow.store import FlowDelivery, FlowJob, FlowStore
from engine.session import GroupMissingError

log = logging.getLogger("wordcount.flow.worker")
EXECUTOR_ENV = "WORDCOUNT_FLOW_EXECUTOR"
"""``module:factory`` of the :class:`Executor` to use (the fault suite's buggy variants)."""
POLL_S = 0.05


@dataclasses.dataclass
class FlowStats:
    committed: int = 0
    refused: int = 0
    claimed: int = 0


def load_executor(spec: str | None = None) -> Executor:
    spec = spec or os.environ.get(EXECUTOR_ENV)
    if not spec:
        return Executor()
    module_name, _, attr = spec.partition(":")
    try:
        factory: Callable[[], Executor] = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"${EXECUTOR_ENV} {spec!r}: cannot load it ({exc})") from None
    return factory()


class FlowWorker:
    """One consumer of a dataflow job's task stream."""

    def __init__(
        self,
        client: redis.Redis,
        job_id: str,
        *,
        consumer: str | None = None,
        deadline_s: float = 60.0,
        wait_for_job_s: float = 30.0,
        executor: Executor | None = None,
    ) -> None:
        self.store = FlowStore(client, job_id, consumer=consumer, deadline_s=deadline_s)
        self.wait_for_job_s = wait_for_job_s
        self.executor = executor or load_executor()
        self.stats = FlowStats()
        self.stages: list[Stage] = []
        self.partitions = 1
        self.claim_timeout_ms = 10_000
        self._stale_checked = float("-inf")

    def run(self) -> FlowStats:
        """Work until the job is done."""
        self._load()
        while True:
            try:
                delivery = self._next()
                if delivery is not None:
                    self._process(delivery)
                    continue
                job = self.store.job()
                if job is None:
                    raise GroupMissingError("the job is gone")
                if job.finished:
                    return self.stats
            except GroupMissingError:
                log.warning("job %s vanished from Redis; waiting for it", self.store.keys.job_id)
                self._load()

    def _load(self) -> FlowJob:
        """Wait for the job (a driver may be bootstrapping it) and plan its stages."""
        give_up = time.monotonic() + self.wait_for_job_s
        while (job := self.store.job()) is None:
            if time.monotonic() > give_up:
                raise JobNotFoundError(
                    f"no dataflow job {self.store.keys.job_id!r} appeared in Redis within "
                    f"{self.wait_for_job_s:.0f} s: start it with `wordcount flow run`"
                )
            time.sleep(POLL_S)
        program = parse_program(json.loads(job.program))
        self.stages = plan_stages(program)
        self.partitions = job.partitions
        self.claim_timeout_ms = job.claim_timeout_ms
        return job

    def _next(self) -> FlowDelivery | None:
        now = time.monotonic()
        if now - self._stale_checked >= min(0.1, self.claim_timeout_ms / 10_000):
            self._stale_checked = now
            delivery = self.store.claim_stale(self.claim_timeout_ms)
            if delivery is not None:
                self.stats.claimed += 1
                cp.reach(points.WORKER_AFTER_CLAIM, **self._context(delivery))
                return delivery
        delivery = self.store.read_new(max(10, min(50, self.claim_timeout_ms // 2)))
        if delivery is not None:
            cp.reach(points.WORKER_AFTER_READ, **self._context(delivery))
        return delivery

    def _context(self, delivery: FlowDelivery) -> dict[str, object]:
        return {
            "consumer": self.store.consumer,
            "entry": delivery.entry_id,
            "stage": delivery.stage,
            "partition": delivery.partition,
            "deliveries": delivery.deliveries,
            "claimed": delivery.claimed,
        }

    def _inputs(self, delivery: FlowDelivery) -> list[Pair] | None:
        """The task's input, or ``None`` if the task is no longer ours (Redis lost the job
        and it was bootstrapped again since the task was delivered)."""
        blobs = self.store.inputs(delivery.stage, delivery.partition)
        expected = 1 if delivery.stage == 0 else self.partitions
        if len(blobs) != expected:
            if not self.store.renew(delivery.entry_id):
                return None
            raise RuntimeError(
                f"task {delivery.entry_id} has {len(blobs)} of {expected} inputs although it "
                "is still pending: the flow library's commit is not atomic"
            )
        pairs: list[Pair] = []
        for source in sorted(blobs):
            pairs += unpack(blobs[source])
        return pairs

    @contextlib.contextmanager
    def _kept(self, delivery: FlowDelivery) -> Iterator[None]:
        """Renew the task's claim every third of the claim timeout while the block runs, so
        a live worker on a large partition is not robbed (and its work not done twice).
        Only computing is covered: a worker stalled anywhere else loses the task."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.claim_timeout_ms / 3000):
                try:
                    if not self.store.renew(delivery.entry_id):
                        return
                except Exception:  # the commit will tell; renewing is only a courtesy
                    return

        thread = threading.Thread(target=renew, name="renew", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _process(self, delivery: FlowDelivery) -> None:
        context = self._context(delivery)
        pairs = self._inputs(delivery)
        if pairs is None:
            return
        with self._kept(delivery):
            out = self.executor.run(self.stages[delivery.stage], pairs, recovered=delivery.claimed)
        cp.reach(points.WORKER_AFTER_EXECUTE, **context, pairs_in=len(pairs), pairs_out=len(out))
        keys = self.store.keys
        with self._kept(delivery):
            if delivery.stage + 1 == len(self.stages):
                out_keys, blobs = [keys.result], [pack(out)]
            else:
                routed = self.executor.route(out, self.partitions, delivery.partition)
                out_keys = [keys.data(delivery.stage + 1, q) for q in range(self.partitions)]
                blobs = [pack(part) for part in routed]
        cp.reach(points.WORKER_BEFORE_COMMIT, **context)
        accepted, reason = self.store.commit(delivery, out_keys, blobs)
        cp.reach(points.WORKER_AFTER_COMMIT, **context, accepted=accepted, reason=reason)
        if accepted:
            self.stats.committed += 1
        else:
            self.stats.refused += 1
            log.info("commit of task %s refused: %s", delivery.entry_id, reason)


def run_worker(
    client: redis.Redis, job_id: str, *, deadline_s: float, wait_for_job_s: float
) -> int:
    """``wordcount worker`` on a dataflow job."""
    stats = FlowWorker(client, job_id, deadline_s=deadline_s, wait_for_job_s=wait_for_job_s).run()
    log.info("flow worker finished: %s", stats)
    return 0
