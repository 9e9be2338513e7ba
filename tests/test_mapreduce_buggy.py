"""The MapReduce tests have teeth: each known-buggy variant (faults/buggy_mapreduce.py) is
exact without faults, and a test catches it, while the real engine passes the same test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis
from test_mapreduce_run import Job

from engine import crashpoints as cp
from engine.driver import RunOptions, run
from engine.inputs import expand_inputs
from engine.mapreduce.worker import MapReduceWorker
from engine.serial import count_tasks
from engine.tokenize import Tokenizer
from faults import buggy_mapreduce as bm
from faults.property import run_and_check
from faults.scenario import Dataset, Fault, FileSpec, Scenario, Settings

pytestmark = [pytest.mark.slow, pytest.mark.once, pytest.mark.timeout(600)]
VARIANT_TRIES = 3
REAL = "engine.mapreduce.engine:engine"
FILES = tuple(
    FileSpec(f"f{i}.txt", b" ".join(b"w%d" % ((i * 31 + j) % 211) for j in range(3000)))
    for i in range(4)
)


@pytest.mark.parametrize("spec", sorted(bm.VARIANTS.values()))
def test_each_variant_is_exact_without_faults(
    spec: str, redis_url: str, job_id: str, tmp_path: Path
) -> None:
    data = tmp_path / "in"
    data.mkdir()
    for f in FILES:
        (data / f.name).write_bytes(f.data)
    result = run(RunOptions([str(data)], workers=1, redis_url=redis_url, job_id=job_id,
                            engine=spec, read_all=True, progress=False,
                            intermediate=str(tmp_path / "im")))  # fmt: skip
    assert result.counts == count_tasks(expand_inputs([str(data)]), Tokenizer())


def _scenario(workers: int, claim_ms: int, fault: str) -> Scenario:
    return Scenario(name="mr-teeth", description="", workers=workers,
                    dataset=Dataset(files=FILES), faults=(Fault.parse(fault),),
                    settings=Settings(claim_timeout_ms=claim_ms, max_attempts=6),
                    timeout_s=120, liveness_s=60)  # fmt: skip


# The worker that takes the last map task hangs before committing it; the other one finds
# no map to take long before that task is stale (5 s), and reduces early.
REDUCE_EARLY = _scenario(2, 5000, "map.before_commit@3#1:hang")
# A reducer stalls past its claim timeout; the thief commits the partition, then the
# straggler commits it again.
STRAGGLER = _scenario(2, 500, "reduce.before_commit#1:slow=2000")


@pytest.mark.parametrize(
    ("scenario", "real_or_control", "variant"),
    [
        (REDUCE_EARLY, REAL, bm.VARIANTS["reduce_early"]),
        (STRAGGLER, REAL, bm.VARIANTS["incrementing_reduce"]),
        (STRAGGLER, "faults.buggy_mapreduce:setting_reduce", bm.VARIANTS["incrementing_reduce"]),
    ],
    ids=["reduce_early", "incrementing_reduce", "setting-is-what-saves-it"],
)
def test_scenario_catches_variant(
    scenario: Scenario, real_or_control: str, variant: str, redis_backend: str
) -> None:
    _, good = run_and_check(scenario, redis_backend, engine=real_or_control)
    assert good.valid, good.problems
    for _ in range(VARIANT_TRIES):  # timing: on docker a straggler once lost its race
        outcome, bad = run_and_check(scenario, redis_backend, engine=variant)
        assert outcome.fired, "the fault never fired: the scenario proves nothing"
        if not bad.valid:
            break
    assert not bad.valid, f"the variant passed {VARIANT_TRIES} runs"
    assert any("count" in p or "differ" in p for p in bad.problems), bad.problems


def _visible_after_mid_write_crash(
    client: redis.Redis, job_id: str, tmp_path: Path, worker_class: type[MapReduceWorker]
) -> list[str]:
    data = tmp_path / "in"
    data.mkdir(parents=True)
    for f in FILES:
        (data / f.name).write_bytes(f.data)
    job = Job(client, job_id, data, tmp_path / "im")
    job.worker = worker_class(client, job_id, wait_for_job_s=5)
    job.worker.settings = job.settings

    class Crash(Exception):
        pass

    def hook(point: str, context: dict[str, object]) -> None:
        if point == cp.MAP_MID_WRITE:
            raise Crash

    cp.install(hook)
    try:
        with pytest.raises(Crash):
            job.maps(1)
    finally:
        cp.install(None)
    return [n for n in os.listdir(job.directory) if n.startswith("mr-")]


def test_mid_write_crash_check_catches_in_place_writes(
    redis_client: redis.Redis, job_id: str, tmp_path: Path
) -> None:
    assert _visible_after_mid_write_crash(redis_client, job_id, tmp_path / "real",
                                          MapReduceWorker) == []  # fmt: skip
    assert _visible_after_mid_write_crash(redis_client, job_id + "-b", tmp_path / "bug",
                                          bm.InPlace) != []  # fmt: skip
