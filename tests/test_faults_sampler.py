"""The sampler on a large job: its probe sees every move, its full cuts stay spaced.

A full cut of a job with hundreds of thousands of words, read every 25 ms with a short
timeout, timed out on a loaded machine every time; the runner then saw a job that never
moved and stopped it as stalled (a soak at a load average of 25 found nine such runs).
"""

from __future__ import annotations

import time

import redis

from engine.keys import JobKeys
from engine.nodes.base import RedisNode
from faults.db import DB
from faults.history import History
from faults.sampler import LARGE_CUT, Sampler

WORDS = 200_000


def _fill(client: redis.Redis, keys: JobKeys) -> None:
    client.hset(keys.job, mapping={"state": "ready", "tasks_done": 0, "applying": 0})
    pipe = client.pipeline(transaction=False)
    for start in range(0, WORDS, 20_000):
        pipe.zadd(keys.counts, {f"w{i}": 1 for i in range(start, start + 20_000)})
    pipe.execute()


def _until(check: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the sampler never saw it"
        time.sleep(0.02)


def test_a_large_job_is_seen_moving_and_finishing(redis_node: RedisNode, job_id: str) -> None:
    keys, history = JobKeys(job_id), History()
    client = redis_node.client()
    _fill(client, keys)
    sampler = Sampler(DB(redis_node, history, owned=False), keys, history)
    sampler.start()
    try:
        _until(lambda: sampler.reads >= 1 and sampler.moved_at > 0)
        cuts, moved = sampler.reads, sampler.moved_at
        time.sleep(0.5)
        assert sampler.reads == cuts, "an unchanged large job was cut again"
        staged = keys.stage("1-0:c:t")
        client.hset(staged, mapping={"1": b"x", "2": b"y"})
        client.hset(keys.applying, staged, 2)
        client.hincrby(keys.job, "applying", 1)
        _until(lambda: sampler.moved_at > moved)
        moved = sampler.moved_at
        client.hdel(staged, "1")  # a merge of one staged part: nothing else changes
        _until(lambda: sampler.moved_at > moved)
        client.delete(staged)
        client.hdel(keys.applying, staged)
        client.hset(keys.job, mapping={"applying": 0, "state": "done"})
        _until(lambda: sampler.finished_at is not None)
    finally:
        sampler.stop()
    assert len(sampler.samples) >= 1 and len(sampler.samples[0].counts) == WORDS > LARGE_CUT
