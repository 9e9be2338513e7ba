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
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    assert worker.commit([read_one(worker).entry_id], pairs_of(kept=1), 100).accepted
    before = state_of(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(redis_client, job3, "w1", [delivery.entry_id], BAD_PAIRS[name])
    assert state_of(redis_client, job3) == before
    # The stage function validates the same way.
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        worker.stage(delivery.entry_id, BAD_PAIRS[name])
    assert state_of(redis_client, job3) == before
    # The task is still the worker's, and a good commit goes through.
    assert worker.commit([delivery.entry_id], pairs_of(good=1), 100).accepted
    assert counts_in(redis_client, job3) == {"kept": 1, "good": 1}


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
    delivery = read_one(session_for(redis_client, job3, "w1"))
    before = state_of(redis_client, job3)
    with pytest.raises(rex.ResponseError, match="invalid payload"):
        _raw_commit(
            redis_client,
            job3,
            "w1",
            [delivery.entry_id] if ids is None else ids,
            pairs_of(a=1),
            sizes,
        )
    assert state_of(redis_client, job3) == before


# --- staging ---------------------------------------------------------------------------


def test_staged_and_inline_counts_merge_in_one_commit(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = job3.stage(delivery.entry_id)
    assert worker.stage(delivery.entry_id, pairs_of(a=1, b=2))
    assert worker.stage(delivery.entry_id, pairs_of(c=3))
    assert worker.stage(delivery.entry_id, pairs_of(c=3))  # idempotent
    assert redis_client.hlen(stage_key) == 3
    assert 0 < redis_client.pttl(stage_key) <= 24 * 3600 * 1000
    assert redis_client.zcard(job3.counts) == 0  # staging counts nothing yet

    result = worker.commit([delivery.entry_id], pairs_of(a=10, d=4), 100, staged=3)
    assert result.accepted
    assert counts_in(redis_client, job3) == {"a": 11, "b": 2, "c": 3, "d": 4}
    assert not redis_client.exists(stage_key)


def test_incomplete_stage_is_refused_then_restaged(
    redis_client: redis.Redis, job3: JobKeys
) -> None:
    worker = session_for(redis_client, job3, "w1")
    delivery = read_one(worker)
    stage_key = job3.stage(delivery.entry_id)
    assert worker.stage(delivery.entry_id, pairs_of(a=1, b=2, c=3))
    redis_client.hdel(stage_key, "b")  # as if Redis rolled back to an older snapshot
    before = state_of(redis_client, job3)
    result = worker.commit([delivery.entry_id], b"", 100, staged=3)
    assert not result.accepted and result.reason == "stage-incomplete"
    assert state_of(redis_client, job3) == before
    assert worker.stage(delivery.entry_id, pairs_of(a=1, b=2, c=3))
    assert worker.commit([delivery.entry_id], b"", 100, staged=3).accepted
    assert counts_in(redis_client, job3) == {"a": 1, "b": 2, "c": 3}


def test_stage_refuses_non_owners(redis_client: redis.Redis, job3: JobKeys) -> None:
    owner = session_for(redis_client, job3, "owner")
    other = session_for(redis_client, job3, "other")
    delivery = read_one(owner)
    assert not other.stage(delivery.entry_id, pairs_of(a=1))
    assert not redis_client.exists(job3.stage(delivery.entry_id))
    # Nor may anyone stage a task nobody was given.
    assert not owner.stage("3-0", pairs_of(a=1))
    assert not redis_client.exists(job3.stage("3-0"))


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
