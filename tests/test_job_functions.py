"""The job functions of engine/wordcount.lua against a real Redis: adding tasks (each
once, whatever is retried), marking the job ready, and finishing it exactly when its last
task is settled."""

from __future__ import annotations

import msgpack
import pytest
import redis
import redis.exceptions as rex
from function_helpers import counts_in, make_tasks, pairs_of, read_one, session_for

from engine.errors import JobConflictError
from engine.functions import Library
from engine.job import JobSettings, bootstrap, read_job
from engine.keys import GROUP, JobKeys
from engine.tasks import Task
from engine.tokenize import Tokenizer

# --- add_tasks and mark_ready ----------------------------------------------------------


def _stream_ids(client: redis.Redis, keys: JobKeys) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(keys.tasks)]


def _add_raw(client: redis.Redis, keys: JobKeys, tasks: list[Task], settings: JobSettings) -> int:
    packed = msgpack.packb(
        [[t.index, *(x for kv in t.to_fields().items() for x in kv)] for t in tasks],
        use_bin_type=False,
    )
    return int(
        Library(client).fcall(
            "wc_add_tasks", [keys.tasks, keys.job], [GROUP, settings.to_json(), packed]
        )
    )


def test_bootstrap_twice_adds_each_task_once(redis_client: redis.Redis, keys: JobKeys) -> None:
    tasks = make_tasks(7)
    bootstrap(redis_client, keys, JobSettings(), tasks)
    info = bootstrap(redis_client, keys, JobSettings(), tasks)
    assert info.state == "ready" and info.n_tasks == 7
    assert info.bytes_total == sum(t.size for t in tasks)
    assert _stream_ids(redis_client, keys) == [f"{i}-0" for i in range(1, 8)]


def test_add_tasks_after_a_partial_run_adds_the_rest_once(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    tasks, settings = make_tasks(10), JobSettings()
    assert _add_raw(redis_client, keys, tasks[:4], settings) == 4
    assert _add_raw(redis_client, keys, tasks[:6], settings) == 2  # overlapping retry
    assert _add_raw(redis_client, keys, tasks[:6], settings) == 0
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping"
    # A worker may already have taken a task: re-adding must not bring it back.
    worker = session_for(redis_client, keys, "early")
    early = read_one(worker)
    assert worker.commit([early.entry_id], pairs_of(early=1), 100).accepted

    info = bootstrap(redis_client, keys, settings, tasks)
    assert info.state == "ready" and info.n_tasks == 10
    assert _stream_ids(redis_client, keys) == [f"{i}-0" for i in range(1, 11)]
    fields = [Task.from_fields(f) for _, f in redis_client.xrange(keys.tasks)]
    assert fields == tasks
    seen = []
    while (d := worker.read_new(None)) is not None:
        seen.append(d.entry_id)
    assert seen == [f"{i}-0" for i in range(2, 11)]


def test_other_settings_are_a_conflict(redis_client: redis.Redis, keys: JobKeys) -> None:
    bootstrap(redis_client, keys, JobSettings(), make_tasks(2))
    before = redis_client.hgetall(keys.job)
    with pytest.raises(JobConflictError, match="other settings"):
        bootstrap(redis_client, keys, JobSettings(Tokenizer(lower=True)), make_tasks(2))
    assert redis_client.hgetall(keys.job) == before
    assert redis_client.xlen(keys.tasks) == 2


def test_mark_ready_refuses_an_incomplete_stream(redis_client: redis.Redis, keys: JobKeys) -> None:
    tasks, settings = make_tasks(5), JobSettings()
    _add_raw(redis_client, keys, tasks[:3], settings)
    library = Library(redis_client)
    with pytest.raises(rex.ResponseError, match="stream has 3 of 5 tasks"):
        library.fcall("wc_mark_ready", [keys.tasks, keys.job], [5, 500])
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping" and info.n_tasks == 0
    # Workers do not take an incomplete job for a finished one, even with nothing pending.
    worker = session_for(redis_client, keys, "w")
    entries = [read_one(worker).entry_id for _ in range(3)]
    assert worker.commit(entries, pairs_of(a=1), 300).accepted
    assert not worker.finished()
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping"

    _add_raw(redis_client, keys, tasks, settings)
    assert library.fcall("wc_mark_ready", [keys.tasks, keys.job], [5, 500]) == b"ready"
    entries = [read_one(worker).entry_id for _ in range(2)]
    assert worker.commit(entries, pairs_of(b=1), 200).accepted
    assert worker.finished()


def test_mark_ready_without_a_job(redis_client: redis.Redis, keys: JobKeys) -> None:
    with pytest.raises(rex.ResponseError, match="no such job"):
        Library(redis_client).fcall("wc_mark_ready", [keys.tasks, keys.job], [0, 0])


def test_mark_ready_of_a_job_whose_tasks_are_all_settled_finishes_it(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    tasks, settings = make_tasks(2), JobSettings()
    _add_raw(redis_client, keys, tasks, settings)
    worker = session_for(redis_client, keys, "w")
    assert worker.commit([read_one(worker).entry_id, read_one(worker).entry_id], b"", 200).accepted
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping"
    library = Library(redis_client)
    assert library.fcall("wc_mark_ready", [keys.tasks, keys.job], [2, 201]) == b"done"
    # Marking again changes nothing.
    assert library.fcall("wc_mark_ready", [keys.tasks, keys.job], [2, 201]) == b"done"


# --- finishing -------------------------------------------------------------------------


def test_job_with_no_tasks_is_done_at_once(redis_client: redis.Redis, keys: JobKeys) -> None:
    info = bootstrap(redis_client, keys, JobSettings(), [])
    assert (info.state, info.n_tasks) == ("done", 0)
    assert redis_client.hexists(keys.job, "finished_ms")


def _job_state(client: redis.Redis, keys: JobKeys) -> str:
    info = read_job(client, keys)
    assert info is not None
    return info.state


def test_job_is_done_exactly_when_the_last_task_is_committed(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w")
    a, b, c = read_one(worker), read_one(worker), read_one(worker)
    for delivery in (a, b):
        assert worker.commit([delivery.entry_id], pairs_of(x=1), 100).accepted
        assert _job_state(redis_client, job3) == "ready"
        assert not redis_client.hexists(job3.job, "finished_ms")
    assert worker.commit([c.entry_id], pairs_of(x=1), 100).accepted
    assert _job_state(redis_client, job3) == "done"
    assert redis_client.hexists(job3.job, "finished_ms")


def test_job_fails_exactly_when_the_last_task_is_dead_lettered(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w")
    a, b, c = read_one(worker), read_one(worker), read_one(worker)
    assert worker.dead_letter(a, "broken")
    assert _job_state(redis_client, job3) == "ready"
    assert worker.commit([b.entry_id], pairs_of(x=1), 100).accepted
    assert _job_state(redis_client, job3) == "ready"
    assert worker.dead_letter(c, "broken too")
    info = read_job(redis_client, job3)
    assert info is not None
    assert (info.state, info.tasks_done, info.tasks_failed) == ("failed", 1, 2)
    assert worker.finished()
    assert counts_in(redis_client, job3) == {"x": 1}
