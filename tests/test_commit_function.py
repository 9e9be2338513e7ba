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
from function_helpers import counts_in, pairs_of, read_one, session_for, state_of

from engine.functions import Library
from engine.job import read_job
from engine.keys import GROUP, JobKeys

# --- commit ----------------------------------------------------------------------------


def test_commit_twice_counts_once(redis_client: redis.Redis, job3: JobKeys) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    first = worker.commit([delivery.entry_id], pairs_of(apple=2, pear=1), 100)
    assert first.accepted
    before = state_of(redis_client, job3)
    again = worker.commit([delivery.entry_id], pairs_of(apple=2, pear=1), 100)
    assert not again.accepted and again.reason == "not-owner"
    assert state_of(redis_client, job3) == before
    assert counts_in(redis_client, job3) == {"apple": 2, "pear": 1}
    info = read_job(redis_client, job3)
    assert info is not None and info.tasks_done == 1 and info.bytes_done == 100
    assert redis_client.smembers(job3.done) == {delivery.entry_id.encode()}


def test_stale_commit_after_autoclaim_is_refused(redis_client: redis.Redis, job3: JobKeys) -> None:
    slow = session_for(redis_client, job3, "slow")
    thief = session_for(redis_client, job3, "thief")
    delivery = read_one(slow)
    stolen = thief.claim_stale(0)
    assert stolen is not None and stolen.entry_id == delivery.entry_id
    assert stolen.claimed and stolen.deliveries == 2

    before = state_of(redis_client, job3)
    late = slow.commit([delivery.entry_id], pairs_of(word=5), 100)
    assert not late.accepted and late.reason == "not-owner"
    assert state_of(redis_client, job3) == before

    assert thief.commit([stolen.entry_id], pairs_of(word=5), 100).accepted
    assert not slow.commit([delivery.entry_id], pairs_of(word=5), 100).accepted
    assert not thief.commit([stolen.entry_id], pairs_of(word=5), 100).accepted
    assert counts_in(redis_client, job3) == {"word": 5}


def test_batch_with_one_stolen_task_commits_nothing(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    thief = session_for(redis_client, job3, "thief")
    one, two = read_one(worker), read_one(worker)
    # Steal only the second: XCLAIM it directly (XAUTOCLAIM would take the first).
    assert redis_client.xclaim(job3.tasks, GROUP, "thief", 0, [two.entry_id], justid=True)
    before = state_of(redis_client, job3)
    result = worker.commit([one.entry_id, two.entry_id], pairs_of(a=1, b=2), 200)
    assert not result.accepted and result.reason == "not-owner"
    assert state_of(redis_client, job3) == before
    # The untouched task is still the worker's, and commits alone.
    assert worker.commit([one.entry_id], pairs_of(a=1), 100).accepted
    assert thief.commit([two.entry_id], pairs_of(b=2), 100).accepted
    assert counts_in(redis_client, job3) == {"a": 1, "b": 2}


def test_batch_commit_acks_every_task(redis_client: redis.Redis, job3: JobKeys) -> None:
    worker = session_for(redis_client, job3, "w1")
    entries = [read_one(worker).entry_id for _ in range(3)]
    assert worker.commit(entries, pairs_of(x=3, y=1), 303).accepted
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
    parts: Any = 0,
    stage_keys: list[str] | None = None,
) -> Any:
    ids_arg = ids if isinstance(ids, bytes) else msgpack.packb(ids, use_bin_type=False)
    all_keys = [keys.tasks, keys.counts, keys.job, keys.done, keys.applying,
                *(stage_keys or [])]  # fmt: skip
    args = [GROUP, consumer, ids_arg, pairs, 100, parts]
    return Library(client).fcall("wc_commit", all_keys, args)


@pytest.mark.parametrize("name", sorted(BAD_PAIRS))
def test_invalid_pairs_are_rejected_with_nothing_written(
    redis_client: redis.Redis, job3: JobKeys, name: str
) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    assert worker.commit([read_one(worker).entry_id], pairs_of(kept=1), 100).accepted
    before = state_of(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(redis_client, job3, "w1", [delivery.entry_id], BAD_PAIRS[name])
    assert state_of(redis_client, job3) == before
    # The stage function validates the same way.
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        worker.stage(worker.stage_key(delivery.entry_id), delivery.entry_id, 1, BAD_PAIRS[name])
    assert state_of(redis_client, job3) == before
    # The task is still the worker's, and a good commit goes through.
    assert worker.commit([delivery.entry_id], pairs_of(good=1), 100).accepted
    assert counts_in(redis_client, job3) == {"kept": 1, "good": 1}


@pytest.mark.parametrize(
    ("ids", "parts"),
    [
        (b"\xc1", 0),  # entry IDs not msgpack
        ([], 0),  # empty batch
        (None, "many"),  # part count not a number
        (None, 3),  # staged parts but no staging key
    ],
    ids=["bad-ids", "empty-batch", "bad-parts", "parts-without-key"],
)
def test_invalid_commit_arguments_are_rejected(
    redis_client: redis.Redis, job3: JobKeys, ids: Any, parts: Any
) -> None:
    delivery = read_one(session_for(redis_client, job3, "w1"))
    before = state_of(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(
            redis_client,
            job3,
            "w1",
            [delivery.entry_id] if ids is None else ids,
            pairs_of(a=1),
            parts,
        )
    assert state_of(redis_client, job3) == before


# --- staging ---------------------------------------------------------------------------


def test_staged_parts_are_checked_at_commit_and_applied_one_per_call(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = worker.stage_key(delivery.entry_id)
    assert worker.stage(stage_key, delivery.entry_id, 1, pairs_of(a=1, b=2))
    assert worker.stage(stage_key, delivery.entry_id, 2, pairs_of(c=3))
    assert worker.stage(stage_key, delivery.entry_id, 2, pairs_of(c=3))  # idempotent
    assert redis_client.hlen(stage_key) == 2
    assert 0 < redis_client.pttl(stage_key) <= 24 * 3600 * 1000
    assert redis_client.zcard(job3.counts) == 0  # staging counts nothing yet

    result = worker.commit([delivery.entry_id], pairs_of(a=10, d=4), 100, stage_key, 2)
    assert result.accepted
    assert counts_in(redis_client, job3) == {"a": 10, "d": 4}
    info = read_job(redis_client, job3)
    assert info is not None and info.applying == 1 and info.tasks_done == 1
    assert redis_client.pttl(stage_key) == -1  # an application in flight never expires
    assert worker.apply(stage_key) == 1  # one part per call
    assert worker.apply(stage_key) == 0
    assert worker.apply(stage_key) == 0  # applying again changes nothing
    assert counts_in(redis_client, job3) == {"a": 11, "b": 2, "c": 3, "d": 4}
    assert not redis_client.exists(stage_key) and not redis_client.exists(job3.applying)
    info = read_job(redis_client, job3)
    assert info is not None and info.applying == 0


def test_the_job_finishes_only_once_every_part_is_applied(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    deliveries = [read_one(worker) for _ in range(3)]
    ids = [d.entry_id for d in deliveries]
    assert worker.commit(ids[:2], pairs_of(x=1), 100).accepted
    stage_key = worker.stage_key(ids[2])
    assert worker.stage(stage_key, ids[2], 1, pairs_of(y=1))
    assert worker.commit(ids[2:], b"", 100, stage_key, 1).accepted
    info = read_job(redis_client, job3)
    assert info is not None and info.state == "ready" and info.tasks_done == 3
    assert not worker.finished()  # and it resumes the application the commit left
    info = read_job(redis_client, job3)
    assert info is not None and info.state == "done" and info.applying == 0
    assert counts_in(redis_client, job3) == {"x": 1, "y": 1}


def test_incomplete_stage_is_refused_then_restaged(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = worker.stage_key(delivery.entry_id)
    assert worker.stage(stage_key, delivery.entry_id, 1, pairs_of(a=1))
    assert worker.stage(stage_key, delivery.entry_id, 2, pairs_of(b=2))
    redis_client.hdel(stage_key, "2")  # as if Redis rolled back to an older snapshot
    before = state_of(redis_client, job3)
    result = worker.commit([delivery.entry_id], b"", 100, stage_key, 2)
    assert not result.accepted and result.reason == "stage-incomplete"
    assert state_of(redis_client, job3) == before
    worker.discard_stage(stage_key)
    assert not redis_client.exists(stage_key)
    again = worker.stage_key(delivery.entry_id)
    assert again != stage_key
    assert worker.stage(again, delivery.entry_id, 1, pairs_of(a=1))
    assert worker.stage(again, delivery.entry_id, 2, pairs_of(b=2))
    assert worker.commit([delivery.entry_id], b"", 100, again, 2).accepted
    worker.apply_all(again)
    assert counts_in(redis_client, job3) == {"a": 1, "b": 2}


def test_a_stage_with_extra_parts_is_refused(redis_client: redis.Redis, job3: JobKeys) -> None:
    """Exact content: a part beyond the count (e.g. a leftover) is not ignored."""
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = worker.stage_key(delivery.entry_id)
    for number in (1, 2, 3):
        assert worker.stage(stage_key, delivery.entry_id, number, pairs_of(a=number))
    result = worker.commit([delivery.entry_id], b"", 100, stage_key, 2)
    assert not result.accepted and result.reason == "stage-incomplete"


def test_a_committed_stage_is_never_discarded(redis_client: redis.Redis, job3: JobKeys) -> None:
    """A commit whose reply was lost looks refused to its worker; its stage must stay."""
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = worker.stage_key(delivery.entry_id)
    assert worker.stage(stage_key, delivery.entry_id, 1, pairs_of(a=1))
    assert worker.commit([delivery.entry_id], b"", 100, stage_key, 1).accepted
    worker.discard_stage(stage_key)
    assert redis_client.exists(stage_key)
    worker.apply_all(stage_key)
    assert counts_in(redis_client, job3) == {"a": 1}


def test_stage_refuses_non_owners(redis_client: redis.Redis, job3: JobKeys) -> None:
    owner = session_for(redis_client, job3, "owner")
    other = session_for(redis_client, job3, "other")
    delivery = read_one(owner)
    key = other.stage_key(delivery.entry_id)
    assert not other.stage(key, delivery.entry_id, 1, pairs_of(a=1))
    assert not redis_client.exists(key)
    # Nor may anyone stage a task nobody was given.
    key = owner.stage_key("3-0")
    assert not owner.stage(key, "3-0", 1, pairs_of(a=1))
    assert not redis_client.exists(key)


# --- renew -----------------------------------------------------------------------------


def test_renew_resets_idle_time_for_the_owner_only(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    owner = session_for(redis_client, job3, "owner")
    other = session_for(redis_client, job3, "other")
    delivery = read_one(owner)

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

    assert owner.commit([delivery.entry_id], pairs_of(a=1), 100).accepted
    assert not owner.renew(delivery.entry_id)  # acknowledged: nobody's any more


# --- dead letters ----------------------------------------------------------------------


def test_dead_letter(redis_client: redis.Redis, job3: JobKeys) -> None:
    owner = session_for(redis_client, job3, "owner")
    other = session_for(redis_client, job3, "other")
    delivery = read_one(owner)
    before = state_of(redis_client, job3)
    assert not other.dead_letter(delivery, "not mine to fail")
    assert state_of(redis_client, job3) == before

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
    assert not owner.commit([delivery.entry_id], pairs_of(a=1), 100).accepted
    assert redis_client.xlen(job3.dead) == 1 and redis_client.zcard(job3.counts) == 0
