"""Whole MapReduce jobs on a real Redis, compared word for word with the serial count: run
through the driver and the command line, and driven step by step in this process to put
a fault exactly between two steps (a damaged intermediate file, a driver restarted between
the phases, Redis wiped before some map commits, a crash in the middle of a write)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from engine import crashpoints as cp
from engine.driver import RunOptions, run
from engine.inputs import expand_inputs
from engine.job import JobSettings, inputs_digest
from engine.keys import JobKeys
from engine.mapreduce.engine import MapReduceEngine
from engine.mapreduce.worker import MapReduceWorker
from engine.serial import count_tasks
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer

CHUNK = 4096


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.txt").write_bytes(b"caf\xe9 caf\xc3\xa9 The the\tthe \xff\xfe\n" * 300)
    (data / "b.txt").write_bytes(b" ".join(b"w%d" % (i * 7 % 1301) for i in range(9000)))
    (data / "c.txt").write_bytes(b"")
    (data / "d.csv").write_bytes(b"n,text\n1,hello world\n2,world\n")
    return data


def _serial(data: Path, tokenizer: Tokenizer | None = None) -> Counter[str]:
    return count_tasks(expand_inputs([str(data)], csv_column="text"), tokenizer or Tokenizer())


def _counts(client: redis.Redis, keys: JobKeys) -> Counter[str]:
    rows = client.zrange(keys.counts, 0, -1, withscores=True)
    return Counter({w.decode("utf-8", "surrogateescape"): int(n) for w, n in rows})


@pytest.mark.parametrize("tokenizer", [Tokenizer(), Tokenizer("space", lower=True)])
def test_run_equals_serial_and_cleans_up(
    corpus: Path, redis_url: str, job_id: str, tmp_path: Path, tokenizer: Tokenizer
) -> None:
    where = tmp_path / "intermediate"
    result = run(RunOptions([str(corpus)], workers=2, redis_url=redis_url, job_id=job_id,
                            tokenizer=tokenizer, csv_column="text", read_all=True,
                            chunk_bytes=CHUNK, mode="mapreduce", intermediate=str(where),
                            progress=False))  # fmt: skip
    assert result.info.state == "done"
    assert result.counts == _serial(corpus, tokenizer)
    assert not (where / job_id).exists()


def test_cli_mapreduce_output_and_bad_intermediate(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "counts.csv"
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    cmd = [sys.executable, "-m", "engine", "run", str(corpus), "--csv-column", "text",
           "--mode", "mapreduce", "--no-progress", "--chunk-size", "4KB"]  # fmt: skip
    done = subprocess.run([*cmd, "--output", str(out), "--intermediate", str(tmp_path / "im")],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    from engine.output import read_counts_file

    assert read_counts_file(str(out)) == _serial(corpus)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    bad = subprocess.run([*cmd, "--intermediate", str(blocker)], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and str(blocker) in bad.stderr
    assert "Traceback" not in bad.stderr


class Job:
    """A MapReduce job driven in this process: bootstrap, then worker steps on demand."""

    def __init__(
        self, client: redis.Redis, job_id: str, data: Path, where: Path, claim_ms: int = 60_000
    ) -> None:
        self.client, self.keys, self.where = client, JobKeys(job_id), where
        self.tasks = expand_inputs([str(data)], csv_column="text", chunk_bytes=CHUNK)
        self.settings = JobSettings(inputs_digest=inputs_digest(self.tasks), chunk_bytes=CHUNK,
                                    claim_timeout_ms=claim_ms)  # fmt: skip
        self.bootstrap()
        self.worker = MapReduceWorker(client, job_id, wait_for_job_s=5)
        self.worker.settings = self.settings

    def bootstrap(self) -> None:
        """What a (re)started driver does."""
        MapReduceEngine(str(self.where), 3).bootstrap(self.client, self.keys, self.settings,
                                                      self.tasks)  # fmt: skip

    def maps(self, n: int | None = None) -> None:
        """Run map tasks until ``n`` are committed (all if ``None``)."""
        while n is None or self.worker.stats.maps < n:
            phase = self.worker.session.phase()
            assert phase is not None
            if phase.reducing:
                return
            assert self.worker.step(phase), "no map task to run"

    @property
    def directory(self) -> Path:
        return self.where / self.keys.job_id


@pytest.fixture
def job(redis_client: redis.Redis, job_id: str, corpus: Path, tmp_path: Path) -> Iterator[Job]:
    yield Job(redis_client, job_id, corpus, tmp_path / "im")
    cp.install(None)


def test_damaged_and_lost_files_after_commit_are_detected_and_their_maps_rerun(
    job: Job, corpus: Path
) -> None:
    job.maps()
    names = sorted(os.listdir(job.directory))
    damaged, lost = job.directory / names[0], job.directory / names[-1]
    raw = bytearray(damaged.read_bytes())
    raw[-1] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    lost.unlink()
    job.worker.run()
    assert job.worker.stats.redone == 2
    assert _counts(job.client, job.keys) == _serial(corpus)
    assert job.client.hget(job.keys.job, "state") == b"done"


def test_driver_restarted_between_the_phases(job: Job, corpus: Path) -> None:
    job.maps()
    n = len(job.tasks)
    job.bootstrap()  # a new driver: adds nothing, keeps the maps' records
    assert job.client.xlen(job.keys.tasks) == n
    assert job.client.hlen(job.keys.map_outputs) == n
    job.worker.run()
    assert job.worker.stats.maps == n
    assert _counts(job.client, job.keys) == _serial(corpus)


def test_redis_wiped_before_some_map_commits(job: Job, corpus: Path) -> None:
    job.maps(2)
    job.client.flushall()  # Redis lost everything, the files of two maps stay on disk
    job.bootstrap()  # the driver notices and bootstraps again
    job.worker.run()
    assert _counts(job.client, job.keys) == _serial(corpus)
    assert job.client.hget(job.keys.job, "tasks_done") == str(len(job.tasks)).encode()


def test_crash_mid_write_leaves_no_visible_output_and_the_map_runs_again(
    redis_client: redis.Redis, job_id: str, corpus: Path, tmp_path: Path
) -> None:
    job = Job(redis_client, job_id, corpus, tmp_path / "im", claim_ms=200)
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
    assert not [n for n in os.listdir(job.directory) if n.startswith("mr-")]
    job.worker.run()  # steals the crashed map once idle for the claim timeout
    assert _counts(job.client, job.keys) == _serial(corpus)


def test_resume_with_other_workers_keeps_the_layout_and_stream_jobs_conflict(
    redis_client: redis.Redis, job_id: str, corpus: Path, tmp_path: Path
) -> None:
    from engine.errors import JobConflictError
    from engine.job import bootstrap

    job = Job(redis_client, job_id, corpus, tmp_path / "im")
    before = redis_client.hmget(job.keys.job, "intermediate", "n_reduces")
    MapReduceEngine(str(tmp_path / "elsewhere"), 7, workers=5).bootstrap(
        redis_client, job.keys, job.settings, job.tasks
    )
    assert redis_client.hmget(job.keys.job, "intermediate", "n_reduces") == before
    stream = JobKeys(job_id + "-s")
    bootstrap(redis_client, stream, job.settings, job.tasks)
    with pytest.raises(JobConflictError, match="stream mode"):
        MapReduceEngine(str(tmp_path)).bootstrap(redis_client, stream, job.settings, job.tasks)


def test_large_partitions_are_staged_committed_and_applied(
    job: Job, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.mapreduce import payload

    monkeypatch.setattr(payload, "MAX_PAIRS_PER_CALL", 50)  # every partition has more
    job.worker.run()
    assert _counts(job.client, job.keys) == _serial(corpus)
    assert not list(job.client.scan_iter(job.keys.stage_pattern))
