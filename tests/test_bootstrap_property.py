"""Bootstrap repeated at any point adds each task exactly once, against a real Redis.

Hypothesis picks how many tasks, the batch size, after which batch the first bootstrap
dies (a driver crash, raised from the real ``driver.bootstrap`` crash point), whether Redis
then rolls back to an earlier moment (the state saved by DUMP after an earlier batch is
RESTOREd, as a restart from an older snapshot would), how many tasks workers take and
commit before the driver comes back, and how many times the driver bootstraps again.
Whatever the interleaving, the stream must end holding every task once, in order, with
the job ready (or done), and the tasks not yet taken must be exactly the ones a worker
still gets.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import crashpoints as cp
from engine.job import BOOTSTRAP_BATCH_ENV, JobSettings, bootstrap
from engine.keys import JobKeys
from engine.session import WorkerSession, pack_pairs
from engine.tasks import Task
from faults.profiles import WITH_FIXTURES


class DriverDied(Exception):
    """Stands for the driver process dying at the crash point."""


def _tasks(n: int) -> list[Task]:
    return [Task(i, f"/inputs/file-{i}.txt", size=10 + i) for i in range(n)]


@contextmanager
def _dies_after(batches: int, on_batch: Any) -> Iterator[None]:
    """Install a crash-point hook that calls ``on_batch(k)`` and dies after batch ``batches``."""
    seen = 0

    def hook(point: str, context: dict[str, Any]) -> None:
        nonlocal seen
        if point != cp.DRIVER_BOOTSTRAP:
            return
        seen += 1
        on_batch(seen)
        if seen == batches:
            raise DriverDied(f"after batch {seen}")

    cp.install(hook)
    try:
        yield
    finally:
        cp.install(None)


def _stream_ids(client: redis.Redis, keys: JobKeys) -> list[str]:
    return [entry.decode() for entry, _ in client.xrange(keys.tasks)]


def _first_bootstrap(client: redis.Redis, keys: JobKeys, tasks: list[Task], die_after: int,
                     rollback_to: int | None) -> None:  # fmt: skip
    """Bootstrap until the driver dies; maybe roll Redis back to an earlier batch."""
    saved: dict[bytes, bytes] = {}

    def on_batch(k: int) -> None:
        if k == rollback_to:
            saved.update({key.encode(): client.dump(key) for key in (keys.tasks, keys.job)})

    with _dies_after(die_after, on_batch), suppress(DriverDied):
        bootstrap(client, keys, JobSettings(), tasks)
    if saved:
        for key, value in saved.items():
            client.restore(key, 0, value, replace=True)


@settings(suppress_health_check=WITH_FIXTURES)
@given(
    n=st.integers(0, 12),
    batch=st.integers(1, 5),
    die_after=st.integers(1, 4),
    rollback_to=st.none() | st.integers(1, 4),
    taken=st.integers(0, 4),
    again=st.integers(1, 3),
)
def test_bootstrap_repeated_at_any_point_adds_each_task_once(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, n: int, batch: int,
    die_after: int, rollback_to: int | None, taken: int, again: int,
) -> None:  # fmt: skip
    monkeypatch.setenv(BOOTSTRAP_BATCH_ENV, str(batch))
    keys = JobKeys(f"boot-{secrets.token_hex(6)}")
    tasks = _tasks(n)
    _first_bootstrap(redis_client, keys, tasks, die_after, rollback_to)
    worker = WorkerSession(redis_client, keys, consumer="early", deadline_s=5)
    committed = []
    for _ in range(taken):  # workers may start on a job still being bootstrapped
        delivery = worker.read_new(None)
        if delivery is None:
            break
        assert worker.commit([delivery.entry_id], pack_pairs([(b"w", 1)]), 1).accepted
        committed.append(delivery.entry_id)
    for _ in range(again):
        info = bootstrap(redis_client, keys, JobSettings(), tasks)
        assert info.n_tasks == n
        assert info.state in ("ready", "done")
    ids = [t.entry_id for t in tasks]
    assert _stream_ids(redis_client, keys) == ids
    rest = []
    while (delivery := worker.read_new(None)) is not None:
        rest.append(delivery.entry_id)
    assert committed + rest == ids
    for key in keys.all_fixed():
        redis_client.delete(key)
