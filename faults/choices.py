"""The one set of scenario choices that both :mod:`faults.strategies` (Hypothesis) and
:mod:`faults.generate` (a seed) draw from, so the two cannot drift apart.

Each tuple lists its simplest value first: Hypothesis shrinks ``sampled_from`` toward it.
Fault kinds, their points and their durations are in :mod:`faults.kinds`.
"""

from __future__ import annotations

from faults.kinds import (
    CRITICAL_POINTS,
    DRIVER_POINTS,
    REDIS_CRITICAL_POINTS,
    WORKER_POINTS,
)

__all__ = [
    "BOOTSTRAP_BATCHES", "CHUNK_BYTES", "CLAIM_TIMEOUTS_MS", "CRITICAL_POINTS",
    "DRIVER_POINTS", "MAX_RANGES", "PERSISTENCE", "REDIS_CRITICAL_POINTS", "SPLIT_ON",
    "WORKER_POINTS", "chunk_bytes_for",
]  # fmt: skip

PERSISTENCE = ("none", "aof-always", "aof-everysec", "snapshot:200")
CLAIM_TIMEOUTS_MS = (500, 300, 1000)
SPLIT_ON = ("whitespace", "space")
BOOTSTRAP_BATCHES = (500, 1, 2)
"""One batch, or batches so small that a crash mid-bootstrap leaves part of the tasks."""
CHUNK_BYTES = (0, 64, 1024, 16 << 10)
"""Byte-range splitting off, or small enough that the drawn files really are split."""
MAX_RANGES = 50


def chunk_bytes_for(largest_file: int, drawn: int) -> int:
    """The drawn chunk size, raised so that no file makes more than ``MAX_RANGES`` tasks
    (64-byte ranges of a 2 MB generated file would be 30,000 tasks)."""
    if not drawn:
        return 0
    return max(drawn, largest_file // MAX_RANGES + 1)
