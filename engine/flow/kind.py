"""Whether a job is a dataflow job, without importing the dataflow engine.

Every ``wordcount worker`` asks this first; importing :mod:`engine.flow.worker` (its
planner, executor and store) only to learn that a job is a word count cost each worker
of a tiny job about 0.05 s.
"""

from __future__ import annotations

import time

import redis

from engine import connection
from engine.keys import FlowKeys

POLL_S = 0.05


def is_flow_job(client: redis.Redis, job_id: str, wait_s: float) -> bool:
    """Whether ``job_id`` is a dataflow job, waiting up to ``wait_s`` for it to appear
    (``False`` if it does not: the word-count worker then reports the missing job)."""
    key = FlowKeys(job_id).job
    give_up = time.monotonic() + wait_s
    while True:
        kind, settings = connection.call(client, lambda: client.hmget(key, "kind", "settings"))
        if kind is not None or settings is not None:
            return bool(kind == b"flow")
        if time.monotonic() > give_up:
            return False
        time.sleep(POLL_S)
