"""A live worker keeps its claims whatever its main thread does, and only a theft from a
worker that died or stalled counts as a failed attempt (engine/heartbeat.py).

Issue 11 bug 4 / issue 12.3: claims were renewed only between 8 MB blocks of the
counting loop, so a worker busy elsewhere (importing pandas, reading, waiting for a core)
lost its task to thieves until the delivery count ran out and a healthy task was
dead-lettered ("gave up after 5 attempts").
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from function_helpers import make_tasks

from engine import worker as worker_module
from engine.errors import ConfigError
from engine.job import JobSettings, bootstrap, read_job
from engine.keys import GROUP, JobKeys
from engine.session import WorkerSession, orphaned_after_ms
from engine.tasks import Task
from engine.worker import Worker

CLAIM_MS = 200
BUSY_S = 1.5
"""Python work before the first block: seven claim timeouts, under the stall bound? No:
busy Python code moves, so it is never a stall, however long."""


def _busy(seconds: float) -> None:
    """Work in Python (like an import), never reaching the counting loop."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))


def test_a_worker_busy_outside_the_counting_loop_keeps_its_task(
    tmp_path: Path, redis_client: redis.Redis, job_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a b c\n" * 10)
    keys = JobKeys(job_id)
    task = Task(0, str(path), size=path.stat().st_size)
    bootstrap(redis_client, keys, JobSettings(claim_timeout_ms=CLAIM_MS, max_attempts=1), [task])
    real_blocks = worker_module.iter_blocks
    started = threading.Event()

    def slow_blocks(task: Task) -> Iterator[bytes]:
        started.set()
        _busy(BUSY_S)
        return real_blocks(task)

    monkeypatch.setattr(worker_module, "iter_blocks", slow_blocks)
    worker = Worker(redis_client, job_id)
    thread = threading.Thread(target=worker.run)
    thread.start()
    thief = WorkerSession(redis_client, keys, consumer="thief", deadline_s=5)
    started.wait(30)
    stolen = []
    while thread.is_alive():
        delivery = thief.claim_stale(CLAIM_MS)
        if delivery is not None:
            stolen.append(delivery.deliveries)
        time.sleep(0.02)
    thread.join()
    assert stolen == [], f"the task of a live worker was stolen: {stolen}"
    info = read_job(redis_client, keys)
    assert info is not None and (info.state, info.tasks_done, info.tasks_failed) == ("done", 1, 0)


def _idle_task(client: redis.Redis, keys: JobKeys, owner: WorkerSession) -> str:
    delivery = owner.read_new(None)
    assert delivery is not None
    time.sleep(CLAIM_MS / 1000 * 1.5)
    return delivery.entry_id


@pytest.mark.parametrize(("state", "stolen"), [("working", False), ("stalled", True),
                                               (None, True)])  # fmt: skip
def test_only_tasks_of_dead_or_stalled_workers_are_stolen(
    redis_client: redis.Redis, keys: JobKeys, state: str | None, stolen: bool
) -> None:
    bootstrap(redis_client, keys, JobSettings(claim_timeout_ms=CLAIM_MS), make_tasks(1))
    owner = WorkerSession(redis_client, keys, consumer="owner", deadline_s=5)
    thief = WorkerSession(redis_client, keys, consumer="thief", deadline_s=5)
    entry = _idle_task(redis_client, keys, owner)
    if state is not None:  # the owner's heartbeat said so, renewing nothing
        owner.heartbeat([], 60_000, state)
    delivery = thief.claim_stale(CLAIM_MS)
    if not stolen:
        assert delivery is None
        (row,) = redis_client.xpending_range(keys.tasks, GROUP, entry, entry, 1)
        assert row["consumer"] == b"owner" and row["times_delivered"] == 1
        return
    assert delivery is not None and delivery.entry_id == entry
    assert delivery.deliveries == 2  # a failed attempt: the owner died or stalled


def test_a_heartbeat_renews_only_what_is_still_ours(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    bootstrap(redis_client, keys, JobSettings(claim_timeout_ms=CLAIM_MS), make_tasks(2))
    owner = WorkerSession(redis_client, keys, consumer="owner", deadline_s=5)
    first = owner.read_new(None)
    second = owner.read_new(None)
    assert first is not None and second is not None
    assert owner.commit([first.entry_id], b"", 1).accepted
    time.sleep(CLAIM_MS / 1000 * 1.5)
    assert owner.heartbeat([first.entry_id, second.entry_id], 5000, "working") == [False, True]
    assert redis_client.get(keys.alive("owner")) == b"working"
    assert 0 < int(redis_client.pttl(keys.alive("owner"))) <= 5000
    (row,) = redis_client.xpending_range(keys.tasks, GROUP, second.entry_id, second.entry_id, 1)
    assert row["time_since_delivered"] < CLAIM_MS and row["times_delivered"] == 1


def test_too_short_claim_timeouts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too short"):
        JobSettings(claim_timeout_ms=50)
    path = tmp_path / "in.txt"
    path.write_text("a b\n")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(path), "--claim-timeout", "50ms",
         "--redis-url", "redis://127.0.0.1:1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --claim-timeout 50ms"), proc.stderr


def test_a_task_a_working_owner_no_longer_holds_is_stolen_in_the_end(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    """A live worker that let a task go (its commit failed for good) renews it no more:
    once idle past any heartbeat's lateness, it is stolen, or the job would never end."""
    bootstrap(redis_client, keys, JobSettings(claim_timeout_ms=CLAIM_MS), make_tasks(1))
    owner = WorkerSession(redis_client, keys, consumer="owner", deadline_s=5)
    thief = WorkerSession(redis_client, keys, consumer="thief", deadline_s=5)
    entry = _idle_task(redis_client, keys, owner)
    owner.heartbeat([], 60_000, "working")
    assert thief.claim_stale(CLAIM_MS) is None
    time.sleep(orphaned_after_ms(CLAIM_MS) / 1000)
    delivery = thief.claim_stale(CLAIM_MS)
    assert delivery is not None and delivery.entry_id == entry and delivery.deliveries == 2
