"""Bounded reduce commits (issue 14): a partition of more words than one Redis call may
set is staged in parts, committed (acknowledged, parts recorded in the ledger) in one
call, then applied one part per call; no call sets more words than the bound. A reducer
that dies between two parts loses nothing: staged parts of an uncommitted attempt are
never applied, and the parts of a committed one are applied by whoever comes next."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from test_mapreduce_run import Job, _counts, _serial

from engine import crashpoints as cp
from engine.mapreduce import payload
from engine.mapreduce.worker import MapReduceWorker

BOUND = 50
"""Words per call in these tests; every partition of the corpus has several times more."""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_bytes(b" ".join(b"w%d" % (i * 7 % 1301) for i in range(9000)))
    (data / "b.txt").write_bytes(b"caf\xe9 caf\xc3\xa9 The the\tthe \xff\xfe\n" * 300)
    return data


@pytest.fixture
def mr_job(redis_client: redis.Redis, job_id: str, corpus: Path, tmp_path: Path) -> Job:
    return Job(redis_client, job_id, corpus, tmp_path / "im")


class Crash(Exception):
    """A worker dying at a crash point (in this process: the step stops there)."""


def crash_at(point: str, nth: int = 1) -> None:
    seen = [0]

    def hook(name: str, context: dict[str, Any]) -> None:
        if name == point:
            seen[0] += 1
            if seen[0] == nth:
                raise Crash(name)

    cp.install(hook)


def _record_growth(
    client: redis.Redis, job: Job, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, int]]:
    """(function, words added to the counts) of every call the worker's session makes."""
    grown: list[tuple[str, int]] = []
    real: Callable[..., Any] = job.worker.session.fcall

    def counting(name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        before = client.zcard(job.keys.counts)
        reply = real(name, keys, args)
        grown.append((name, int(client.zcard(job.keys.counts)) - int(before)))
        return reply

    monkeypatch.setattr(job.worker.session, "fcall", counting)
    return grown


def test_no_reduce_call_sets_more_words_than_the_bound(
    mr_job: Job, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = mr_job
    monkeypatch.setattr(payload, "MAX_PAIRS_PER_CALL", BOUND)
    grown = _record_growth(job.client, job, monkeypatch)
    job.worker.run()
    final = _serial(corpus)
    assert _counts(job.client, job.keys) == final
    assert sum(n for _, n in grown) == len(final)  # every word was set by these calls
    assert max(n for _, n in grown) <= BOUND, grown
    assert job.client.hlen(job.keys.applying) == 0
    assert job.client.hget(job.keys.job, "applying") == b"0"
    assert job.client.hget(job.keys.job, "state") == b"done"


@pytest.mark.parametrize("point", [cp.REDUCE_MID_STAGE, cp.REDUCE_BEFORE_COMMIT,
                                   cp.REDUCE_MID_APPLY])  # fmt: skip
def test_a_reducer_dying_between_parts_loses_nothing(
    redis_client: redis.Redis, job_id: str, corpus: Path, tmp_path: Path, point: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(payload, "MAX_PAIRS_PER_CALL", BOUND)
    job = Job(redis_client, job_id, corpus, tmp_path / "im", claim_ms=200)
    try:
        job.maps()
        crash_at(point, nth=2)
        with pytest.raises(Crash):
            job.worker.run()
    finally:
        cp.install(None)
    final = _serial(corpus)
    counts = _counts(redis_client, job.keys)
    assert {w: n for w, n in counts.items() if final[w] != n} == {}  # present means final
    assert redis_client.hget(job.keys.job, "state") == b"ready"
    in_flight = int(redis_client.hget(job.keys.job, "applying") or 0)
    assert in_flight == (1 if point == cp.REDUCE_MID_APPLY else 0)
    assert redis_client.hlen(job.keys.applying) == in_flight
    other = MapReduceWorker(redis_client, job_id, wait_for_job_s=5)
    other.settings = job.settings
    other.run()  # steals the dead reducer's task, or applies its committed parts
    assert _counts(redis_client, job.keys) == final
    assert redis_client.hget(job.keys.job, "state") == b"done"
    assert redis_client.hlen(job.keys.applying) == 0


def test_a_commit_missing_a_staged_part_is_refused_then_staged_again(
    mr_job: Job, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis rolled back to before the last part was staged: the commit must not go
    through with a part missing."""
    monkeypatch.setattr(payload, "MAX_PAIRS_PER_CALL", BOUND)
    job = mr_job
    client, lost = job.client, list[int]()

    def lose_a_part(name: str, context: dict[str, Any]) -> None:
        if name == cp.REDUCE_BEFORE_COMMIT and not lost:
            stage = next(iter(client.scan_iter(job.keys.stage_pattern)))
            lost.append(client.hdel(stage, "2"))

    cp.install(lose_a_part)
    try:
        job.worker.run()
    finally:
        cp.install(None)
    assert lost == [1]
    assert job.worker.stats.refused == 1
    assert _counts(client, job.keys) == _serial(corpus)
