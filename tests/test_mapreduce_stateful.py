"""A stateful model of the MapReduce mode on a real Redis: two workers take map and reduce
steps in any order while intermediate files are damaged or deleted, Redis is wiped (and
the driver bootstraps again) and the driver restarts. After every step each word in the
sorted set must already have its final count, and the job hash must agree with the done
set; at the end, the job finished by one worker must equal the serial count."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_mapreduce_run import Job, _counts, _serial

from engine.mapreduce.worker import MapReduceWorker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _files(where: Path, seed: int) -> Path:
    data = where / "in"
    data.mkdir(parents=True)
    for i in range(3):
        words = [b"w%d" % ((seed + i * 13 + j * j) % 97) for j in range(400 + 50 * i)]
        (data / f"f{i}.txt").write_bytes(b" ".join(words) + b"\n")
    return data


class MapReduceModel(RuleBasedStateMachine):
    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.where = Path(tempfile.mkdtemp(prefix="mr-stateful-"))
        self.data = _files(self.where, secrets.randbelow(1000))
        self.job = Job(self.client, "mrsm-" + secrets.token_hex(4), self.data, self.where / "im")
        self.workers = [self.job.worker, MapReduceWorker(self.client, self.job.keys.job_id)]
        self.workers[1].settings = self.job.settings
        self.final = _serial(self.data)

    @rule(which=st.integers(0, 1), steps=st.integers(1, 4))
    def work(self, which: int, steps: int) -> None:
        worker = self.workers[which]
        for _ in range(steps):
            phase = worker.session.phase()
            if phase is None or phase.finished:
                return
            worker.step(phase)

    @precondition(lambda self: self.job.directory.exists())
    @rule(pick=st.integers(0, 50), delete=st.booleans())
    def damage_a_file(self, pick: int, delete: bool) -> None:
        names = sorted(n for n in os.listdir(self.job.directory) if n.startswith("mr-"))
        if not names:
            return
        path = self.job.directory / names[pick % len(names)]
        if delete:
            path.unlink()
        else:
            raw = bytearray(path.read_bytes())
            raw[len(raw) // 2] ^= 0x55
            path.write_bytes(bytes(raw))

    @rule(wipe=st.booleans())
    def driver_restarted(self, wipe: bool) -> None:
        """The driver starts again, after Redis lost everything (``wipe``) or not."""
        if wipe:
            self.client.flushall()
        self.job.bootstrap()

    @invariant()
    def words_appear_with_their_final_count(self) -> None:
        counts = _counts(self.client, self.job.keys)
        wrong = {w: (n, self.final[w]) for w, n in counts.items() if self.final[w] != n}
        assert not wrong

    @invariant()
    def job_counters_agree_with_done_set(self) -> None:
        done = self.client.scard(self.job.keys.done)
        assert int(self.client.hget(self.job.keys.job, "tasks_done") or 0) == done

    def teardown(self) -> None:
        try:
            self.job.worker.run()
            assert _counts(self.client, self.job.keys) == self.final
        finally:
            shutil.rmtree(self.where, ignore_errors=True)


@pytest.fixture
def model(redis_client: redis.Redis) -> type[MapReduceModel]:
    MapReduceModel.client = redis_client
    return MapReduceModel


def test_mapreduce_model(model: type[MapReduceModel]) -> None:
    limits = settings(max_examples=min(settings.default.max_examples, 15),
                      stateful_step_count=min(settings.default.stateful_step_count, 20),
                      suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    test = model.TestCase
    test.settings = limits
    test().runTest()
