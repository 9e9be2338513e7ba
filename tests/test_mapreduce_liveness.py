"""A live MapReduce worker keeps its task however long one step of it takes: its heartbeat
renews the claim, and thieves skip tasks whose owner says it is working (issue 11's bug 4
in this mode: under a 300 ms claim timeout a map task of 462,100 words was stolen from
live workers five times and dead-lettered). Real Redis, the worker's own classes."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from function_helpers import make_tasks

from engine.heartbeat import Heartbeat
from engine.job import JobSettings
from engine.keys import JobKeys
from engine.mapreduce.engine import MapReduceEngine
from engine.mapreduce.session import MapReduceSession
from engine.mapreduce.worker import MapReduceWorker

CLAIM_MS = 300


def test_a_long_step_keeps_its_claim_and_a_dead_owner_loses_it(
    redis_client: redis.Redis, job_id: str, tmp_path: Path
) -> None:
    keys = JobKeys(job_id)
    settings = JobSettings(claim_timeout_ms=CLAIM_MS)
    MapReduceEngine(str(tmp_path), 2).bootstrap(redis_client, keys, settings, make_tasks(2))
    worker = MapReduceWorker(redis_client, job_id, wait_for_job_s=5)
    worker.settings = settings
    worker.heartbeat = Heartbeat(worker.liveness, CLAIM_MS)
    worker.heartbeat.start()
    thief = MapReduceSession(redis_client, keys, deadline_s=5)
    thief.consumer = "thief"
    try:
        entry = worker.session.take(keys.tasks, CLAIM_MS, None)
        assert entry is not None
        with worker._held(keys.tasks, entry):
            _count_for(6 * CLAIM_MS / 1000)  # one block counted for six claim timeouts
            assert thief._steal(keys.tasks, CLAIM_MS) is None, "a live worker was robbed"
    finally:
        worker.heartbeat.stop()
    redis_client.delete(keys.alive(worker.session.consumer))  # as if it died
    time.sleep(2 * CLAIM_MS / 1000)
    stolen = thief._steal(keys.tasks, CLAIM_MS)
    assert stolen is not None and stolen.entry_id == entry.entry_id


def _count_for(seconds: float) -> None:
    """Busy for ``seconds``, as a long count in C is (a thread asleep is a hung worker
    to the heartbeat, whose tasks may be stolen: tests/test_heartbeat.py)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))
