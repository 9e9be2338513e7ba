"""A live worker keeps its claims, however long it gathers a batch.

A worker counts several tasks into one batch before it commits, and gathering may last
longer than the claim timeout. If it did not renew the claims of the whole batch, another
worker would see those tasks as stalled and steal them, each theft would count as a
delivery attempt, and after ``max_attempts`` thefts a task of a perfectly healthy worker
would be dead-lettered: with 2,000 small files, a 200 ms claim timeout and no fault at
all, that happened before the batch-wide renewal.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from engine import worker as worker_module
from engine.inputs import expand_inputs
from engine.job import JobSettings, bootstrap, read_job
from engine.keys import JobKeys
from engine.serial import count_tasks
from engine.session import WorkerSession
from engine.tasks import Task
from engine.tokenize import Tokenizer
from engine.worker import BatchLimits, Worker

CLAIM_MS = 300
SLOW_S = 0.05
"""Per task: 30 tasks take 1.5 s to gather, five claim timeouts."""


def test_a_long_batch_keeps_its_claims(
    tmp_path: Path, redis_client: redis.Redis, job_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(30):
        (tmp_path / f"in-{i:02d}.txt").write_text(f"w{i % 7} common\n" * 20)
    tasks = expand_inputs([str(tmp_path)])
    keys = JobKeys(job_id)
    bootstrap(redis_client, keys, JobSettings(claim_timeout_ms=CLAIM_MS, max_attempts=1), tasks)
    real_blocks = worker_module.iter_blocks

    def slow_blocks(task: Task) -> Iterator[bytes]:
        time.sleep(SLOW_S)  # a slow disk: the batch outlives the claim timeout
        return real_blocks(task)

    monkeypatch.setattr(worker_module, "iter_blocks", slow_blocks)
    worker = Worker(redis_client, job_id, limits=BatchLimits(max_age_s=30))
    thread = threading.Thread(target=worker.run)
    thread.start()
    thief = WorkerSession(redis_client, keys, consumer="thief", deadline_s=5)
    stolen = []
    while thread.is_alive():
        delivery = thief.claim_stale(CLAIM_MS)
        if delivery is not None:
            stolen.append(delivery.task.describe())
        time.sleep(0.02)
    thread.join()
    assert stolen == [], f"tasks of a live worker were stolen: {stolen}"
    info = read_job(redis_client, keys)
    assert info is not None and (info.state, info.tasks_done, info.tasks_failed) == ("done", 30, 0)
    counts = Counter({w.decode(): int(n) for w, n in redis_client.zrange(keys.counts, 0, -1,
                      withscores=True)})  # fmt: skip
    assert counts == count_tasks(tasks, Tokenizer())
