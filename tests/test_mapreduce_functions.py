"""The MapReduce mode's Redis functions (engine/mapreduce/mapreduce.lua), called directly
on a real Redis: commits are atomic, idempotent and refused when stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from function_helpers import make_tasks

from engine.job import JobSettings
from engine.keys import GROUP, JobKeys
from engine.mapreduce.engine import MapReduceEngine
from engine.mapreduce.payload import pack_scored
from engine.mapreduce.session import Entry, MapReduceSession, outputs_digest

M = 2


@pytest.fixture
def job(redis_client: redis.Redis, job_id: str, tmp_path: Path) -> JobKeys:
    keys = JobKeys(job_id)
    info = MapReduceEngine(str(tmp_path), M).bootstrap(
        redis_client, keys, JobSettings(), make_tasks(2)
    )
    assert info.state == "ready" and info.n_tasks == 2
    return keys


def _session(client: redis.Redis, keys: JobKeys, name: str) -> MapReduceSession:
    session = MapReduceSession(client, keys, deadline_s=5)
    session.consumer = name
    return session


def _map_commit(s: MapReduceSession, entry: Entry, record: str = "100 5:1 6:2") -> Any:
    k = s.keys
    index = int(entry.fields["index"])
    return s.fcall("mr_map_commit", [k.tasks, k.job, k.done, k.map_outputs, k.reduces],
                   [GROUP, s.consumer, entry.entry_id, index, record, 100])  # fmt: skip


def _reduce_commit(s: MapReduceSession, entry: Entry, pairs: dict[bytes, int],
                   digest: str | None = None) -> Any:  # fmt: skip
    import pyarrow as pa

    k = s.keys
    words = pa.array(list(pairs), pa.large_binary())
    payload = pack_scored(words, pa.array(list(pairs.values()), pa.int64()))
    digest = digest if digest is not None else outputs_digest(s.records())
    return s.fcall("mr_reduce_commit",
                   [k.reduces, k.job, k.counts, k.reduced, k.map_outputs, k.applying],
                   [GROUP, s.consumer, entry.entry_id, entry.fields["partition"], payload,
                    digest, 0])  # fmt: skip


def _take(s: MapReduceSession, stream: str) -> Entry:
    entry = s.take(stream, 60_000, None)
    assert entry is not None
    return entry


def _all_maps(client: redis.Redis, keys: JobKeys) -> MapReduceSession:
    s = _session(client, keys, "a")
    for _ in range(2):
        assert _map_commit(s, _take(s, keys.tasks))[0] == 1
    return s


def test_reduces_appear_only_once_every_map_is_committed(
    redis_client: redis.Redis, job: JobKeys
) -> None:
    s = _session(redis_client, job, "a")
    first = _take(s, job.tasks)
    assert _map_commit(s, first) == [1, 1]
    assert redis_client.exists(job.reduces) == 0
    phase = s.phase()
    assert phase is not None and not phase.reducing
    assert _map_commit(s, _take(s, job.tasks)) == [1, 1]
    assert redis_client.xlen(job.reduces) == M
    assert redis_client.smembers(job.done) == {b"1-0", b"2-0"}
    assert redis_client.hget(job.job, "tasks_done") == b"2"


def test_stale_or_repeated_map_commit_changes_nothing(
    redis_client: redis.Redis, job: JobKeys
) -> None:
    a, b = _session(redis_client, job, "a"), _session(redis_client, job, "b")
    entry = _take(a, job.tasks)
    before = redis_client.hgetall(job.job)
    assert _map_commit(b, entry) == [0, b"not-owner"]  # not b's task
    assert redis_client.hgetall(job.job) == before
    assert redis_client.hlen(job.map_outputs) == 0
    assert _map_commit(a, entry) == [1, 1]
    assert _map_commit(a, entry)[0] == 0  # acknowledged already
    assert redis_client.hget(job.job, "tasks_done") == b"1"


def test_reduce_commit_sets_counts_once(redis_client: redis.Redis, job: JobKeys) -> None:
    s = _all_maps(redis_client, job)
    entry = _take(s, job.reduces)
    assert _reduce_commit(s, entry, {b"x": 3, b"y": 1}) == [1, 1]
    counts = redis_client.zrange(job.counts, 0, -1, withscores=True)
    assert counts == [(b"y", 1.0), (b"x", 3.0)]
    assert _reduce_commit(s, entry, {b"x": 3, b"y": 1})[0] == 0  # repeated: refused
    other = _session(redis_client, job, "other")
    assert _reduce_commit(other, entry, {b"x": 9})[0] == 0  # not its task
    assert redis_client.zrange(job.counts, 0, -1, withscores=True) == counts
    assert redis_client.hget(job.job, "state") == b"ready"  # one partition still to do
    assert _reduce_commit(s, _take(s, job.reduces), {b"z": 2}) == [1, 1]
    assert redis_client.hget(job.job, "state") == b"done"


def test_reduce_commit_refused_when_outputs_changed_or_payload_bad(
    redis_client: redis.Redis, job: JobKeys
) -> None:
    s = _all_maps(redis_client, job)
    entry = _take(s, job.reduces)
    assert _reduce_commit(s, entry, {b"x": 1}, digest="0" * 40) == [0, b"maps-changed"]
    k = job
    with pytest.raises(redis.ResponseError, match="invalid payload"):
        s.fcall("mr_reduce_commit", [k.reduces, k.job, k.counts, k.reduced, k.map_outputs],
                [GROUP, "a", entry.entry_id, 0, b"\x92\x00\xa1x",
                 outputs_digest(s.records()), 0])  # fmt: skip
    assert redis_client.exists(job.counts) == 0
    assert redis_client.xpending(job.reduces, GROUP)["pending"] == 1


def test_redo_map_reopens_the_map_phase_once(redis_client: redis.Redis, job: JobKeys) -> None:
    s = _all_maps(redis_client, job)
    reduce_entry = _take(s, job.reduces)
    record = s.records()[0]
    k = job
    fields = ["index", "0", "path", "/inputs/file-0.txt", "kind", "text", "column", "",
              "start", "0", "end", "-1", "size", "100"]  # fmt: skip
    args = [GROUP, "a", 0, record, reduce_entry.entry_id, *fields]
    keys = [k.tasks, k.job, k.done, k.map_outputs, k.reduces]
    assert s.fcall("mr_redo_map", keys, args) == 1
    assert s.fcall("mr_redo_map", keys, args) == 0  # a second reducer finds it done
    phase = s.phase()
    assert phase is not None and not phase.reducing
    assert redis_client.smembers(job.done) == {b"2-0"}
    assert _reduce_commit(s, reduce_entry, {b"x": 1}) == [0, b"maps-incomplete"]
    again = _take(s, job.tasks)
    assert again.fields["index"] == "0" and again.entry_id != "1-0"
    assert _map_commit(s, again) == [1, 1]
    assert _reduce_commit(s, reduce_entry, {b"x": 1}) == [1, 1]


def test_release_hands_a_held_reduce_back_at_once(redis_client: redis.Redis, job: JobKeys) -> None:
    s = _all_maps(redis_client, job)
    entry = _take(s, job.reduces)
    other = _session(redis_client, job, "b")
    args = [GROUP, "b", entry.entry_id]
    assert s.fcall("mr_release", [job.reduces], args) == 0  # not b's to give back
    assert s.fcall("mr_release", [job.reduces], [GROUP, "a", entry.entry_id]) == 1
    stolen = other.take(job.reduces, 60_000, None)  # stale at once, despite a 60 s timeout
    assert stolen is not None and stolen.entry_id == entry.entry_id


def test_a_busy_redis_is_waited_for(redis_client: redis.Redis, redis_node: Any) -> None:
    """A long function call (a reduce commit of a million words takes seconds) makes Redis
    answer BUSY to everyone else; callers wait for it as for a short outage."""
    import threading
    import time

    from engine import connection

    old = redis_client.config_get("busy-reply-threshold").get("busy-reply-threshold", "5000")
    redis_client.config_set("busy-reply-threshold", 50)
    try:
        spin = ("local t = redis.call('TIME'); local s = t[1] * 1e6 + t[2]; repeat "
                "t = redis.call('TIME') until t[1] * 1e6 + t[2] - s > 1500000; return 1")
        busy = threading.Thread(target=lambda: redis_node.client().eval(spin, 0))
        busy.start()
        other = redis_node.client()
        give_up = time.monotonic() + 10
        while not _is_busy(other):  # the script has started and passed the threshold
            assert time.monotonic() < give_up, "Redis never answered BUSY"
            time.sleep(0.01)
        assert connection.call(other, other.ping, deadline_s=10)
        busy.join()
    finally:
        redis_client.config_set("busy-reply-threshold", old)


def _is_busy(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False
