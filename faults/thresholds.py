"""Every internal threshold of the engine, in one place, read from the engine itself.

A tester reading the engine finds numbers where its behaviour changes: counting switches
from Python to Arrow, a commit starts staging, a task is read in several blocks (and its
claims renewed between them), a file is split, a batch is closed, the driver bootstraps
in several calls, a CSV file is read in several row chunks, the result is scanned in
pieces. Bugs live on both sides of such numbers, so the strategies must cross each one
with tasks on both sides of it, and the end-of-run summary says which were crossed
(:mod:`faults.coverage`). The values are imported, never copied: if the engine changes
one, the strategies and the coverage follow.
"""

from __future__ import annotations

import dataclasses

from engine.count import ARROW_AFTER_BYTES
from engine.inputs import BLOCK_BYTES, CSV_CHUNK_ROWS, DEFAULT_CHUNK_BYTES, SCAN_BYTES
from engine.job import BOOTSTRAP_BATCH
from engine.results import SCAN_BATCH
from engine.worker import MAX_PAIRS_PER_CALL, BatchLimits

CLAIM_TIMEOUT_FLOOR_MS = 100
"""The shortest claim timeout the engine is meant to accept (issue 11, bug 4: shorter ones
cannot be honoured and are to be refused). The strategies draw it."""
BUSY_THRESHOLD_S = 5.0
"""Redis's own ``busy-reply-threshold``: a function call running longer makes Redis answer
``BUSY`` to everyone (issue 11, bug 2). Not a number of the engine, so not measured
statically: only a commit of about 1.5 million distinct words gets near it."""
_LIMITS = BatchLimits()


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One number of the engine, where it lives, and what crossing it means here."""

    name: str
    value: int
    source: str
    crossed_when: str


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("arrow-switch", ARROW_AFTER_BYTES, "engine.count.ARROW_AFTER_BYTES",
              "a worker must count more than this many bytes (total > workers x value), "
              "some of them in a task smaller than it: Python first, Arrow after"),
    Threshold("staging", MAX_PAIRS_PER_CALL, "engine.worker.MAX_PAIRS_PER_CALL",
              "a task has more distinct words than this (its commit is staged in parts) "
              "and another has fewer"),
    Threshold("renewal-blocks", BLOCK_BYTES, "engine.inputs.BLOCK_BYTES",
              "a task is larger than one block (read in several, claims renewed between) "
              "and another is not"),
    Threshold("chunk-size", 0, "settings.chunk_bytes (wordcount run --chunk-size)",
              "one text file is split into byte ranges and another text file is not"),
    Threshold("batch-tasks", _LIMITS.max_tasks, "engine.worker.BatchLimits.max_tasks",
              "the job has more tasks than one batch may hold"),
    Threshold("batch-bytes", _LIMITS.max_bytes, "engine.worker.BatchLimits.max_bytes",
              "the job holds more bytes than one batch may"),
    Threshold("bootstrap-batches", BOOTSTRAP_BATCH, "engine.job.BOOTSTRAP_BATCH "
              "(settings.bootstrap_batch)", "the driver adds the tasks in several calls"),
    Threshold("csv-rows", CSV_CHUNK_ROWS, "engine.inputs.CSV_CHUNK_ROWS",
              "a CSV file has more rows than one chunk, and another CSV file fewer"),
    Threshold("result-scan", SCAN_BATCH, "engine.results.SCAN_BATCH",
              "the job's result has more distinct words than one ZSCAN step"),
)  # fmt: skip
"""The thresholds the coverage measures, by name (``chunk-size`` is the scenario's own)."""

NOT_DRAWN = {
    "batch-bytes": f"a job over {_LIMITS.max_bytes >> 20} MB costs far more than a ci example "
    "may; run `faults soak` with large datasets instead",
}
"""Thresholds the strategies do not cross on purpose, and why (the summary names them)."""

NOT_MEASURED = {
    "batch-age": f"BatchLimits.max_age_s = {_LIMITS.max_age_s} s: depends on timing",
    "scan-bytes": f"engine.inputs.SCAN_BYTES = {SCAN_BYTES}: a cut search past 64 KB "
    "needs a 64 KB run without a space or line break",
    "default-chunk": f"engine.inputs.DEFAULT_CHUNK_BYTES = {DEFAULT_CHUNK_BYTES}: the suite "
    "always passes --chunk-size",
    "busy-threshold": f"Redis busy-reply-threshold, {BUSY_THRESHOLD_S:g} s: depends on timing",
}
"""Other numbers of the engine that no static look at a scenario can decide."""


def by_name(name: str) -> Threshold:
    """The threshold called ``name`` (``KeyError`` if none)."""
    return {t.name: t for t in THRESHOLDS}[name]
