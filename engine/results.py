"""Reading a job's results: all counts, the top words, the inputs that failed."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import redis

from engine import connection
from engine.keys import JobKeys
from engine.serial import ranked
from engine.tokenize import decode

SCAN_BATCH = 10_000


def read_counts(client: redis.Redis, keys: JobKeys) -> Counter[str]:
    """Every word and its count (ZSCAN, so a huge vocabulary is read in pieces)."""

    def scan() -> Counter[str]:
        counts: Counter[str] = Counter()
        for word, score in client.zscan_iter(keys.counts, count=SCAN_BATCH):
            counts[decode(word)] = int(score)
        return counts

    return connection.call(client, scan)


def top_words(client: redis.Redis, keys: JobKeys, k: int) -> list[tuple[str, int]]:
    """The ``k`` most frequent words, ties broken by the word's bytes like the serial tool.

    Redis breaks ties the other way, so fetch every word that scores at least the k-th
    score and rank them here.
    """
    if k <= 0:
        return []

    def fetch() -> list[tuple[str, int]]:
        kth = client.zrevrange(keys.counts, k - 1, k - 1, withscores=True)
        low = kth[0][1] if kth else "-inf"
        rows: list[tuple[bytes, float]] = client.zrangebyscore(
            keys.counts, low, "+inf", withscores=True
        )  # type: ignore[assignment]
        return [(decode(word), int(score)) for word, score in rows]

    return ranked(dict(connection.call(client, fetch)))[:k]


@dataclasses.dataclass(frozen=True)
class FailedInput:
    """A task in the dead-letter stream."""

    path: str
    error: str


def failed_inputs(client: redis.Redis, keys: JobKeys) -> list[FailedInput]:
    rows: list[Any] = connection.call(client, lambda: list(client.xrange(keys.dead) or []))
    failed = []
    for _, fields in rows:
        failed.append(FailedInput(decode(fields[b"path"]), decode(fields[b"error"])))
    return failed
