"""A stateful model of the MapReduce mode on a real Redis: two workers take map and reduce
steps in any order while intermediate files are damaged or deleted, Redis is wiped (and
the driver bootstraps again), the driver restarts, and a worker dies at a crash point of
its reduce commit, which is staged and applied 3 words per call (between two staged parts,
before the commit, between two applied parts). After every step each word in the sorted
set must already have its final count, the job hash must agree with the done set and with
the ledger of applications in flight; at the end, the job finished by one worker must
equal the serial count."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_mapreduce_run import Job, _counts, _serial

from engine import crashpoints as cp
from engine.mapreduce.worker import MapReduceWorker
from faults.profiles import WITH_FIXTURES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
PAIRS_PER_CALL = 3
COMMIT_POINTS = (cp.REDUCE_MID_STAGE, cp.REDUCE_BEFORE_COMMIT, cp.REDUCE_MID_APPLY)


class Died(Exception):
    """A worker died at a crash point (its step stops there; it never runs again)."""


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
        self.job = Job(self.client, "mrsm-" + secrets.token_hex(4), self.data, self.where / "im",
                       claim_ms=300)  # fmt: skip
        self.workers = [self._worker(), self._worker()]
        self.final = _serial(self.data)

    def _worker(self) -> MapReduceWorker:
        worker = MapReduceWorker(self.client, self.job.keys.job_id, max_pairs=PAIRS_PER_CALL)
        worker.settings = self.job.settings
        return worker

    @rule(which=st.integers(0, 1), steps=st.integers(1, 4))
    def work(self, which: int, steps: int) -> None:
        worker = self.workers[which]
        for _ in range(steps):
            phase = worker.session.phase()
            if phase is None or phase.finished:
                return
            worker.step(phase)

    @rule(which=st.integers(0, 1), point=st.sampled_from(COMMIT_POINTS), nth=st.integers(1, 3))
    def dies_in_a_reduce_commit(self, which: int, point: str, nth: int) -> None:
        """The worker works until it dies at the ``nth`` time it reaches ``point`` (or has
        taken 6 steps); a new worker, under another name, takes its place."""
        seen = [0]

        def hook(name: str, context: dict[str, object]) -> None:
            seen[0] += name == point
            if name == point and seen[0] == nth:
                raise Died(point)

        cp.install(hook)
        try:
            self.work(which, 6)
        except Died:
            self.workers[which] = self._worker()
        finally:
            cp.install(None)

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
    def ledger_agrees_with_job_hash(self) -> None:
        applying = int(self.client.hget(self.job.keys.job, "applying") or 0)
        assert self.client.hlen(self.job.keys.applying) == applying

    @invariant()
    def job_counters_agree_with_done_set(self) -> None:
        done = self.client.scard(self.job.keys.done)
        assert int(self.client.hget(self.job.keys.job, "tasks_done") or 0) == done

    def teardown(self) -> None:
        try:
            self.workers[0].run()
            assert _counts(self.client, self.job.keys) == self.final
            assert self.client.hget(self.job.keys.job, "state") == b"done"
        finally:
            shutil.rmtree(self.where, ignore_errors=True)


@pytest.fixture
def model(redis_client: redis.Redis) -> type[MapReduceModel]:
    MapReduceModel.client = redis_client
    return MapReduceModel


def test_mapreduce_model(model: type[MapReduceModel]) -> None:
    limits = settings(max_examples=min(settings.default.max_examples, 15),
                      stateful_step_count=min(settings.default.stateful_step_count, 20),
                      suppress_health_check=WITH_FIXTURES)  # fmt: skip
    test = model.TestCase
    test.settings = limits
    test().runTest()
