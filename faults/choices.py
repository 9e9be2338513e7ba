"""The one set of scenario choices that both :mod:`faults.strategies` (Hypothesis) and
:mod:`faults.generate` (a seed) draw from, so the two cannot drift apart.

Each tuple lists its simplest value first: Hypothesis shrinks ``sampled_from`` toward it.
Fault kinds, their points and their durations are in :mod:`faults.kinds`.
"""

from __future__ import annotations

import os

from faults.kinds import (
    CRITICAL_POINTS,
    DRIVER_POINTS,
    REDIS_CRITICAL_POINTS,
    WORKER_POINTS,
)
from faults.thresholds import CLAIM_TIMEOUT_FLOOR_MS

__all__ = [
    "BOOTSTRAP_BATCHES", "CHUNK_BYTES", "CLAIM_TIMEOUTS_MS", "CRITICAL_POINTS",
    "DRIVER_POINTS", "MAX_RANGES", "PERSISTENCE", "REDIS_CRITICAL_POINTS", "SHORT_CLAIMS_MS",
    "SPLIT_ON", "VOCABULARY_CAP", "WORKER_POINTS", "chunk_bytes_for", "chunk_near",
    "vocabulary_cap",
]  # fmt: skip

PERSISTENCE = ("none", "aof-always", "aof-everysec", "snapshot:200")
CLAIM_TIMEOUTS_MS = (500, 300, 1000)
SHORT_CLAIMS_MS = (CLAIM_TIMEOUT_FLOOR_MS, 150)
"""Claim timeouts down to the shortest the engine accepts; drawn by the strategies only
(the seeded generator keeps :data:`CLAIM_TIMEOUTS_MS`, so old seeds replay as they were)."""
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


def chunk_near(size: int, offset: int) -> int:
    """A chunk size ``offset`` bytes from a file's ``size`` (at least 1 byte): the file is
    split or not depending on the sign, and its neighbours in size land on either side."""
    return max(1, size + offset)


VOCABULARY_CAP = {"ci": 0, "ci-again": 0, "dev": 2_000_000, "thorough": 2_000_000}
"""Distinct words a large generated dataset may have, per Hypothesis profile (0: no large
datasets at all). Large datasets (2 to 12 MB, past the Arrow switch, the 8 MB blocks and
50,000 CSV rows, and past the staging threshold ``MAX_PAIRS_PER_CALL`` with up to millions
of distinct words) cost tens of seconds per example on a loaded machine, and the suite's
``ci`` profile must stay cheap: they are drawn by ``dev`` and ``thorough`` (and by
``faults teeth``/``faults soak``, which default to them)."""


def vocabulary_cap(profile: str | None = None) -> int:
    """The cap for ``profile`` (default: ``$HYPOTHESIS_PROFILE``, else ``dev``, as in
    ``conftest.py``); an unknown profile gets the largest."""
    name = profile or os.environ.get("HYPOTHESIS_PROFILE") or "dev"
    return VOCABULARY_CAP.get(name, max(VOCABULARY_CAP.values()))
