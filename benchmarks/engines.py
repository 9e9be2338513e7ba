"""Engine variants for the commit-granularity experiment (``--engine benchmarks.engines:...``).

Each differs from the real engine only in how often it writes counts to Redis: after
every task instead of after a batch of ready tasks, or one call per word instead of one
atomic call per commit. All give exact counts when nothing fails; only their cost differs.
"""

from __future__ import annotations

from typing import Any

import redis

from engine.plugins import DefaultEngine, Engine, Runnable
from engine.worker import BatchLimits, Worker

ONE_TASK = BatchLimits(max_tasks=1)


class _Limited(DefaultEngine):
    """The real engine with a different batch limit, optionally another worker class."""

    def __init__(self, worker_class: type[Worker], limits: BatchLimits | None) -> None:
        self.worker_class = worker_class
        self.limits = limits

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.worker_class(client, job_id, limits=self.limits, **options)


def per_task() -> Engine:
    """One atomic commit per task: no batching of ready tasks."""
    return _Limited(Worker, ONE_TASK)


def per_word() -> Engine:
    """One ZINCRBY call per distinct word of each task (faults.buggy's variant), one task
    per commit: what a naive Redis word count does."""
    from faults.buggy import PerWordCalls

    return _Limited(PerWordCalls, ONE_TASK)


def per_word_batched() -> Engine:
    """One call per distinct word, but per batch of ready tasks."""
    from faults.buggy import PerWordCalls

    return _Limited(PerWordCalls, None)
