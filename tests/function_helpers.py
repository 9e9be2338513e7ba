"""Shared by the tests that call engine/wordcount.lua's functions directly: task lists,
packed pairs, sessions, and readers of what a function left in Redis."""

from __future__ import annotations

from typing import Any

import redis

from engine.keys import GROUP, JobKeys
from engine.session import Delivery, WorkerSession, pack_pairs
from engine.tasks import Task


def make_tasks(n: int) -> list[Task]:
    # The functions never open the files: any path will do.
    return [Task(i, f"/inputs/file-{i}.txt", size=100 + i) for i in range(n)]


def pairs_of(**counts: int) -> bytes:
    return pack_pairs([(word.encode(), n) for word, n in counts.items()])


def session_for(client: redis.Redis, keys: JobKeys, name: str) -> WorkerSession:
    return WorkerSession(client, keys, consumer=name, deadline_s=5)


def read_one(session: WorkerSession) -> Delivery:
    delivery = session.read_new(None)
    assert delivery is not None
    return delivery


def counts_in(client: redis.Redis, keys: JobKeys) -> dict[str, int]:
    return {w.decode(): int(n) for w, n in client.zrange(keys.counts, 0, -1, withscores=True)}


def state_of(client: redis.Redis, keys: JobKeys) -> dict[str, Any]:
    """Everything a function could change, except idle times (which only renew moves)."""
    pending = client.xpending_range(keys.tasks, GROUP, "-", "+", 1000)
    job = client.hgetall(keys.job)
    return {
        "counts": client.zrange(keys.counts, 0, -1, withscores=True),
        "job": job,
        "pending": [(p["message_id"], p["consumer"], p["times_delivered"]) for p in pending],
        "done": client.smembers(keys.done),
        "dead": client.xrange(keys.dead),
        "stages": sorted(client.scan_iter(keys.stage_pattern)),
        "tasks": client.xlen(keys.tasks),
    }
