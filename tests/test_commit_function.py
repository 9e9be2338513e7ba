"""The Redis Functions of engine/wordcount.lua, called against a real Redis.

These are the only places where the engine writes shared state, so each guarantee the
README makes (a commit counts once, a robbed worker's commit changes nothing, a bad
payload writes nothing, a job finishes exactly when its last task is settled) is checked
here directly, one function call at a time.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest
import redis
import redis.exceptions as rex

from engine.errors import JobConflictError
from engine.functions import Library
from engine.job import JobSettings, bootstrap, read_job
from engine.keys import GROUP, JobKeys
from engine.session import Delivery, WorkerSession, pack_pairs
from engine.tasks import Task
from engine.tokenize import Tokenizer


def _tasks(n: int) -> list[Task]:
    # The functions never open the files: any path will do.
    return [Task(i, f"/inputs/file-{i}.txt", size=100 + i) for i in range(n)]


def _pairs(**counts: int) -> bytes:
    return pack_pairs([(word.encode(), n) for word, n in counts.items()])


@pytest.fixture
def keys(job_id: str) -> JobKeys:
    return JobKeys(job_id)


@pytest.fixture
def job3(redis_client: redis.Redis, keys: JobKeys) -> JobKeys:
    """A ready job with three tasks."""
    info = bootstrap(redis_client, keys, JobSettings(), _tasks(3))
    assert info.state == "ready" and info.n_tasks == 3
    return keys


def _session(client: redis.Redis, keys: JobKeys, name: str) -> WorkerSession:
    return WorkerSession(client, keys, consumer=name, deadline_s=5)


def _read(session: WorkerSession) -> Delivery:
    delivery = session.read_new(None)
    assert delivery is not None
    return delivery


def _counts(client: redis.Redis, keys: JobKeys) -> dict[str, int]:
    return {w.decode(): int(n) for w, n in client.zrange(keys.counts, 0, -1, withscores=True)}


def _state(client: redis.Redis, keys: JobKeys) -> dict[str, Any]:
    """Everything a function could change, except idle times (which only renew moves)."""
    pending = client.xpending_range(keys.tasks, GROUP, "-", "+", 1000)
    job = client.hgetall(keys.job)
    return {
        "counts": client.zrange(keys.counts, 0, -1, withscores=True),
        "job": job,
        "pending": [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending],
        "done": client.smembers(keys.done),
        "dead": client.xrange(keys.dead),
        "stages": sorted(client.scan_iter(keys.stage_pattern)),
        "tasks": client.xlen(keys.tasks),
    }


# --- commit ----------------------------------------------------------------------------


def test_commit_twice_counts_once(redis_client: redis.Redis, job3: JobKeys) -> None:
    worker = _session(redis_client, job3, "w1")
    delivery = _read(worker)
    first = worker.commit([delivery.entry_id], _pairs(apple=2, pear=1), 100)
    assert first.accepted
    before = _state(redis_client, job3)
    again = worker.commit([delivery.entry_id], _pairs(apple=2, pear=1), 100)
    assert not again.accepted and again.reason == "not-owner"
    assert _state(redis_client, job3) == before
    assert _counts(redis_client, job3) == {"apple": 2, "pear": 1}
    info = read_job(redis_client, job3)
    assert info is not None and info.tasks_done == 1 and info.bytes_done == 100
    assert redis_client.smembers(job3.done) == {delivery.entry_id.encode()}


def test_stale_commit_after_autoclaim_is_refused(redis_client: redis.Redis, job3: JobKeys) -> None:
    slow = _session(redis_client, job3, "slow")
    thief = _session(redis_client, job3, "thief")
    delivery = _read(slow)
    stolen = thief.claim_stale(0)
    assert stolen is not None and stolen.entry_id == delivery.entry_id
    assert stolen.claimed and stolen.deliveries == 2

    before = _state(redis_client, job3)
    late = slow.commit([delivery.entry_id], _pairs(word=5), 100)
    assert not late.accepted and late.reason == "not-owner"
    assert _state(redis_client, job3) == before

    assert thief.commit([stolen.entry_id], _pairs(word=5), 100).accepted
    assert not slow.commit([delivery.entry_id], _pairs(word=5), 100).accepted
    assert not thief.commit([stolen.entry_id], _pairs(word=5), 100).accepted
    assert _counts(redis_client, job3) == {"word": 5}


def test_batch_with_one_stolen_task_commits_nothing(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = _session(redis_client, job3, "w1")
    thief = _session(redis_client, job3, "thief")
    one, two = _read(worker), _read(worker)
    # Steal only the second: XCLAIM it directly (XAUTOCLAIM would take the first).
    assert redis_client.xclaim(job3.tasks, GROUP, "thief", 0, [two.entry_id], justid=True)
    before = _state(redis_client, job3)
    result = worker.commit([one.entry_id, two.entry_id], _pairs(a=1, b=2), 200)
    assert not result.accepted and result.reason == "not-owner"
    assert _state(redis_client, job3) == before
    # The untouched task is still the worker's, and commits alone.
    assert worker.commit([one.entry_id], _pairs(a=1), 100).accepted
    assert thief.commit([two.entry_id], _pairs(b=2), 100).accepted
    assert _counts(redis_client, job3) == {"a": 1, "b": 2}


def test_batch_commit_acks_every_task(redis_client: redis.Redis, job3: JobKeys) -> None:
    worker = _session(redis_client, job3, "w1")
    entries = [_read(worker).entry_id for _ in range(3)]
    assert worker.commit(entries, _pairs(x=3, y=1), 303).accepted
    info = read_job(redis_client, job3)
    assert info is not None
    assert (info.state, info.tasks_done, info.bytes_done) == ("done", 3, 303)
    assert redis_client.xpending(job3.tasks, GROUP)["pending"] == 0
    assert worker.finished()


# --- invalid payloads ------------------------------------------------------------------

BAD_PAIRS = {
    "odd-items": msgpack.packb(["a", 1, "b"], use_bin_type=False),
    "zero-count": msgpack.packb(["a", 0], use_bin_type=False),
    "negative-count": msgpack.packb(["a", 2, "b", -1], use_bin_type=False),
    "fractional-count": msgpack.packb(["a", 1.5], use_bin_type=False),
    "string-count": msgpack.packb(["a", "1"], use_bin_type=False),
    "empty-word": msgpack.packb(["", 1], use_bin_type=False),
    "number-word": msgpack.packb([7, 1], use_bin_type=False),
    "not-an-array": msgpack.packb(42, use_bin_type=False),
    "not-msgpack": b"\xc1\xc1\xc1",
}


def _raw_commit(
    client: redis.Redis,
    keys: JobKeys,
    consumer: str,
    ids: Any,
    pairs: bytes,
    sizes: Any = b"",
    stage_keys: list[str] | None = None,
) -> Any:
    ids_arg = ids if isinstance(ids, bytes) else msgpack.packb(ids, use_bin_type=False)
    sizes_arg = sizes if isinstance(sizes, bytes) else msgpack.packb(sizes, use_bin_type=False)
    all_keys = [keys.tasks, keys.counts, keys.job, keys.done, *(stage_keys or [])]
    args = [GROUP, consumer, ids_arg, pairs, 100, sizes_arg]
    return Library(client).fcall("wc_commit", all_keys, args)


@pytest.mark.parametrize("name", sorted(BAD_PAIRS))
def test_invalid_pairs_are_rejected_with_nothing_written(
    redis_client: redis.Redis, job3: JobKeys, name: str
) -> None:
    worker = _session(redis_client, job3, "w1")
    delivery = _read(worker)
    assert worker.commit([_read(worker).entry_id], _pairs(kept=1), 100).accepted
    before = _state(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(redis_client, job3, "w1", [delivery.entry_id], BAD_PAIRS[name])
    assert _state(redis_client, job3) == before
    # The stage function validates the same way.
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        worker.stage(delivery.entry_id, BAD_PAIRS[name])
    assert _state(redis_client, job3) == before
    # The task is still the worker's, and a good commit goes through.
    assert worker.commit([delivery.entry_id], _pairs(good=1), 100).accepted
    assert _counts(redis_client, job3) == {"kept": 1, "good": 1}


@pytest.mark.parametrize(
    ("ids", "sizes"),
    [
        (b"\xc1", []),  # entry IDs not msgpack
        ([], []),  # empty batch
        (None, b"\xc1"),  # staging sizes not msgpack
        (None, [3]),  # a staging size but no staging key
    ],
    ids=["bad-ids", "empty-batch", "bad-sizes", "sizes-without-keys"],
)
def test_invalid_commit_arguments_are_rejected(
    redis_client: redis.Redis, job3: JobKeys, ids: Any, sizes: Any
) -> None:
    delivery = _read(_session(redis_client, job3, "w1"))
    before = _state(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(
            redis_client,
            job3,
            "w1",
            [delivery.entry_id] if ids is None else ids,
            _pairs(a=1),
            sizes,
        )
    assert _state(redis_client, job3) == before


# --- staging ---------------------------------------------------------------------------


def test_staged_and_inline_counts_merge_in_one_commit(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = _session(redis_client, job3, "w1")
    delivery = _read(worker)
    stage_key = job3.stage(delivery.entry_id)
    assert worker.stage(delivery.entry_id, _pairs(a=1, b=2))
    assert worker.stage(delivery.entry_id, _pairs(c=3))
    assert worker.stage(delivery.entry_id, _pairs(c=3))  # idempotent
    assert redis_client.hlen(stage_key) == 3
    assert 0 < redis_client.pttl(stage_key) <= 24 * 3600 * 1000
    assert redis_client.zcard(job3.counts) == 0  # staging counts nothing yet

    result = worker.commit([delivery.entry_id], _pairs(a=10, d=4), 100, staged=3)
    assert result.accepted
    assert _counts(redis_client, job3) == {"a": 11, "b": 2, "c": 3, "d": 4}
    assert not redis_client.exists(stage_key)


def test_incomplete_stage_is_refused_then_restaged(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = _session(redis_client, job3, "w1")
    delivery = _read(worker)
    stage_key = job3.stage(delivery.entry_id)
    assert worker.stage(delivery.entry_id, _pairs(a=1, b=2, c=3))
    redis_client.hdel(stage_key, "b")  # as if Redis rolled back to an older snapshot
    before = _state(redis_client, job3)
    result = worker.commit([delivery.entry_id], b"", 100, staged=3)
    assert not result.accepted and result.reason == "stage-incomplete"
    assert _state(redis_client, job3) == before
    assert worker.stage(delivery.entry_id, _pairs(a=1, b=2, c=3))
    assert worker.commit([delivery.entry_id], b"", 100, staged=3).accepted
    assert _counts(redis_client, job3) == {"a": 1, "b": 2, "c": 3}


def test_stage_refuses_non_owners(redis_client: redis.Redis, job3: JobKeys) -> None:
    owner = _session(redis_client, job3, "owner")
    other = _session(redis_client, job3, "other")
    delivery = _read(owner)
    assert not other.stage(delivery.entry_id, _pairs(a=1))
    assert not redis_client.exists(job3.stage(delivery.entry_id))
    # Nor may anyone stage a task nobody was given.
    assert not owner.stage("3-0", _pairs(a=1))
    assert not redis_client.exists(job3.stage("3-0"))


# --- renew -----------------------------------------------------------------------------


def test_renew_resets_idle_time_for_the_owner_only(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    owner = _session(redis_client, job3, "owner")
    other = _session(redis_client, job3, "other")
    delivery = _read(owner)

    def pending() -> dict[str, Any]:
        rows = redis_client.xpending_range(
            job3.tasks, GROUP, delivery.entry_id, delivery.entry_id, 1
        )
        return rows[0]

    time.sleep(0.3)  # let idle time grow
    assert pending()["time_since_delivered"] >= 250
    assert not other.renew(delivery.entry_id)
    row = pending()
    assert row["consumer"] == b"owner" and row["time_since_delivered"] >= 250

    assert owner.renew(delivery.entry_id)
    row = pending()
    assert row["consumer"] == b"owner"
    assert row["time_since_delivered"] < 250
    assert row["times_delivered"] == 1  # a renewal is not a delivery
    assert owner.claim_stale(200) is None  # and a renewed task is not stale

    assert owner.commit([delivery.entry_id], _pairs(a=1), 100).accepted
    assert not owner.renew(delivery.entry_id)  # acknowledged: nobody's any more


# --- dead letters ----------------------------------------------------------------------


def test_dead_letter(redis_client: redis.Redis, job3: JobKeys) -> None:
    owner = _session(redis_client, job3, "owner")
    other = _session(redis_client, job3, "other")
    delivery = _read(owner)
    before = _state(redis_client, job3)
    assert not other.dead_letter(delivery, "not mine to fail")
    assert _state(redis_client, job3) == before

    assert owner.dead_letter(delivery, "cannot read it")
    (_, fields), *rest = redis_client.xrange(job3.dead)
    assert not rest
    assert fields[b"entry"] == delivery.entry_id.encode()
    assert fields[b"path"] == delivery.task.path.encode()
    assert fields[b"error"] == b"cannot read it"
    assert fields[b"consumer"] == b"owner"
    info = read_job(redis_client, job3)
    assert info is not None and (info.tasks_failed, info.tasks_done) == (1, 0)
    assert redis_client.xpending(job3.tasks, GROUP)["pending"] == 0
    # Settled: neither a second dead-letter nor a commit can count it again.
    assert not owner.dead_letter(delivery, "again")
    assert not owner.commit([delivery.entry_id], _pairs(a=1), 100).accepted
    assert redis_client.xlen(job3.dead) == 1 and redis_client.zcard(job3.counts) == 0


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
    tasks = _tasks(7)
    bootstrap(redis_client, keys, JobSettings(), tasks)
    info = bootstrap(redis_client, keys, JobSettings(), tasks)
    assert info.state == "ready" and info.n_tasks == 7
    assert info.bytes_total == sum(t.size for t in tasks)
    assert _stream_ids(redis_client, keys) == [f"{i}-0" for i in range(1, 8)]


def test_add_tasks_after_a_partial_run_adds_the_rest_once(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    tasks, settings = _tasks(10), JobSettings()
    assert _add_raw(redis_client, keys, tasks[:4], settings) == 4
    assert _add_raw(redis_client, keys, tasks[:6], settings) == 2  # overlapping retry
    assert _add_raw(redis_client, keys, tasks[:6], settings) == 0
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping"
    # A worker may already have taken a task: re-adding must not bring it back.
    worker = _session(redis_client, keys, "early")
    early = _read(worker)
    assert worker.commit([early.entry_id], _pairs(early=1), 100).accepted

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
    bootstrap(redis_client, keys, JobSettings(), _tasks(2))
    before = redis_client.hgetall(keys.job)
    with pytest.raises(JobConflictError, match="other settings"):
        bootstrap(redis_client, keys, JobSettings(Tokenizer(lower=True)), _tasks(2))
    assert redis_client.hgetall(keys.job) == before
    assert redis_client.xlen(keys.tasks) == 2


def test_mark_ready_refuses_an_incomplete_stream(redis_client: redis.Redis, keys: JobKeys) -> None:
    tasks, settings = _tasks(5), JobSettings()
    _add_raw(redis_client, keys, tasks[:3], settings)
    library = Library(redis_client)
    with pytest.raises(rex.ResponseError, match="stream has 3 of 5 tasks"):
        library.fcall("wc_mark_ready", [keys.tasks, keys.job], [5, 500])
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping" and info.n_tasks == 0
    # Workers do not take an incomplete job for a finished one, even with nothing pending.
    worker = _session(redis_client, keys, "w")
    entries = [_read(worker).entry_id for _ in range(3)]
    assert worker.commit(entries, _pairs(a=1), 300).accepted
    assert not worker.finished()
    info = read_job(redis_client, keys)
    assert info is not None and info.state == "bootstrapping"

    _add_raw(redis_client, keys, tasks, settings)
    assert library.fcall("wc_mark_ready", [keys.tasks, keys.job], [5, 500]) == b"ready"
    entries = [_read(worker).entry_id for _ in range(2)]
    assert worker.commit(entries, _pairs(b=1), 200).accepted
    assert worker.finished()


def test_mark_ready_without_a_job(redis_client: redis.Redis, keys: JobKeys) -> None:
    with pytest.raises(rex.ResponseError, match="no such job"):
        Library(redis_client).fcall("wc_mark_ready", [keys.tasks, keys.job], [0, 0])


def test_mark_ready_of_a_job_whose_tasks_are_all_settled_finishes_it(
    redis_client: redis.Redis, keys: JobKeys
) -> None:
    tasks, settings = _tasks(2), JobSettings()
    _add_raw(redis_client, keys, tasks, settings)
    worker = _session(redis_client, keys, "w")
    assert worker.commit([_read(worker).entry_id, _read(worker).entry_id], b"", 200).accepted
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
    worker = _session(redis_client, job3, "w")
    a, b, c = _read(worker), _read(worker), _read(worker)
    for delivery in (a, b):
        assert worker.commit([delivery.entry_id], _pairs(x=1), 100).accepted
        assert _job_state(redis_client, job3) == "ready"
        assert not redis_client.hexists(job3.job, "finished_ms")
    assert worker.commit([c.entry_id], _pairs(x=1), 100).accepted
    assert _job_state(redis_client, job3) == "done"
    assert redis_client.hexists(job3.job, "finished_ms")


def test_job_fails_exactly_when_the_last_task_is_dead_lettered(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = _session(redis_client, job3, "w")
    a, b, c = _read(worker), _read(worker), _read(worker)
    assert worker.dead_letter(a, "broken")
    assert _job_state(redis_client, job3) == "ready"
    assert worker.commit([b.entry_id], _pairs(x=1), 100).accepted
    assert _job_state(redis_client, job3) == "ready"
    assert worker.dead_letter(c, "broken too")
    info = read_job(redis_client, job3)
    assert info is not None
    assert (info.state, info.tasks_done, info.tasks_failed) == ("failed", 1, 2)
    assert worker.finished()
    assert _counts(redis_client, job3) == {"x": 1}
