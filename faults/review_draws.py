"""Draws that reach the regions of the bugs a review of the engine found (issue 11).

:func:`faults.strategies.scenarios` calls :func:`review` once per scenario; it draws:

- **embedded mode** (a quarter of the scenarios): the driver runs its own Redis, and one
  of the scenario's Redis faults is a kill of that server at a drawn phase (inside the
  bootstrap, after a commit, before a commit, before the result), half the time followed
  by a kill of the next server while it starts, since supervising it is all the mode
  adds. Bug 3 lived there: a server killed while the driver sat in a
  retried call was never restarted. Faults the mode cannot have are mapped or dropped
  (:meth:`Review.adjust`).
- **a distinct-words file** (dev and thorough, a quarter of the scenarios): one text
  file of 60,000 to 250,000 words, nearly all distinct, split into 1 to 5 chunks, so
  that a single task already crosses the staging threshold
  (:data:`engine.worker.MAX_PAIRS_PER_CALL`) and a batch of several stages more parts
  than any one of its tasks; three in four with a fault just before a commit (a crash, or
  a stop of the whole worker), so that a staged batch is interrupted and its tasks are
  split between attempts. Such a draw has at least two chunks and three workers, and
  half of them stop the worker until another steals a task from it
  (``worker-sigstop-robbed``, :mod:`faults.robbed`): the thief claims the batch's first
  task and counts it (tens of milliseconds for 50,000 distinct words) before it claims
  the next, the stopped worker, back meanwhile, renews the rest, and the thief's batch
  is a new one with the same first task. Bug 5 lived there (a later attempt staged over
  what an earlier batch left), and bug 2 (one commit call merging a whole batch).
- **a busy threshold** (a third of the scenarios with an external Redis, and every
  distinct-words one): Redis's
  ``busy-reply-threshold`` lowered to 250 or 50 ms. The engine must stay correct at any
  threshold (BUSY is a transient refusal); a low one shows a call whose work is not
  bounded without millions of words per example.
"""

from __future__ import annotations

import dataclasses

import hypothesis.strategies as st

from engine import crashpoints as cp
from engine.worker import MAX_PAIRS_PER_CALL
from faults import kinds as k
from faults.choices import vocabulary_cap
from faults.files import Dataset, Generated, all_files
from faults.scenario import Action, Fault, Trigger

BUSY_THRESHOLDS_MS = (0, 250, 50)
"""Redis's default (0), then the lowered thresholds, the simplest first."""
EMBEDDED_KILL_POINTS = (cp.DRIVER_BOOTSTRAP, k.COMMIT, cp.WORKER_BEFORE_COMMIT,
                        cp.DRIVER_BEFORE_RESULT)  # fmt: skip
"""Where the embedded server is killed: the driver inside a call (bootstrap, result) or
polling while workers commit."""
EMBEDDED_KILLS = ("redis-kill", "redis-kill-starting")
"""A kill, or a kill and a second one while the driver restarts the server (its restart
fails, and it must try again)."""
DISTINCT_WORDS = (MAX_PAIRS_PER_CALL + 10_000, 250_000)
"""Words of a distinct-words file: one chunk of it already past the staging threshold."""
ROBBED_PIECE_WORDS = 58_000
ROBBED_WORDS = (3 * ROBBED_PIECE_WORDS, 300_000)
"""Words of a file cut into at least three pieces, each past the staging threshold (a
generated file of N words has about 0.87 N distinct ones)."""
ROBBED = "worker-sigstop-robbed"
"""Drawn for half of the staged-commit faults (where the file is large enough)."""
STAGED_COMMIT_FAULTS = ("crash", "worker-sigstop")
THIEVES_RACE_WORKERS = 3
"""Workers of a draw with an interrupted staged batch: its owner and two thieves."""
_NOT_EMBEDDED = {"redis-wipe": "redis-kill", "redis-restart-empty": "redis-kill"}
"""Kinds that need the data directory (the driver's, in embedded mode), and the kind
drawn instead."""


@dataclasses.dataclass(frozen=True)
class Review:
    """What :func:`review` drew; ``dataset``/``chunk_bytes`` replace the usual draws when
    set, and :meth:`adjust` fits the drawn faults."""

    embedded: bool = False
    busy_ms: int = 0
    dataset: Dataset | None = None
    chunk_bytes: int | None = None
    extra: tuple[tuple[str, int, str], ...] = ()
    """This draw's own faults: (point, nth, kind)."""
    min_workers: int = 1
    """Fewest workers this draw needs (two thieves racing for a batch's tasks)."""
    workers: int = 0
    """Exactly this many workers (0: as drawn), where the bug's region needs it."""

    def adjust(
        self, faults: tuple[Fault, ...], actions: tuple[str, ...], claim_ms: int
    ) -> tuple[Fault, ...]:
        """The drawn faults plus this draw's own (those of ``actions``; a stop lasts four
        claim timeouts), fitted to embedded mode: no driver crash (its Redis would go
        with it), no network fault, and kills instead of wipes."""
        lasting = {"worker-sigstop": 4 * claim_ms, ROBBED: 0}  # robbed: let go at once
        extra = tuple(
            Fault(Trigger(point, nth), Action(kind, lasting.get(kind, 0)))
            for point, nth, kind in self.extra
            if kind in actions
        )
        if not self.embedded:
            return faults + extra
        kept = []
        for fault in faults + extra:
            if fault.trigger.on_driver and not fault.action.on_redis:
                continue
            if fault.action.spec.target == k.NETWORK:  # no proxy before the driver's own Redis
                continue
            kind = _NOT_EMBEDDED.get(fault.action.kind)
            if kind is not None:
                fault = Fault(fault.trigger, Action(kind, fault.action.ms))
            kept.append(fault)
        return tuple(kept)


@st.composite
def review(draw: st.DrawFn, max_vocabulary: int | None = None) -> Review:
    """One :class:`Review` (see the module docstring for the odds)."""
    cap = vocabulary_cap() if max_vocabulary is None else max_vocabulary
    embedded = draw(st.integers(0, 3)) == 3
    lowered = not embedded and draw(st.integers(0, 2)) == 2
    busy = draw(st.sampled_from(BUSY_THRESHOLDS_MS[1:])) if lowered else 0
    extra: list[tuple[str, int, str]] = []
    if embedded:
        point = draw(st.sampled_from(EMBEDDED_KILL_POINTS))
        nth = 1 if point == cp.DRIVER_BEFORE_RESULT else draw(st.integers(1, 3))
        extra.append((point, nth, draw(st.sampled_from(EMBEDDED_KILLS))))
    if cap < DISTINCT_WORDS[0] or draw(st.integers(0, 3)) != 3:
        return Review(embedded, busy, extra=tuple(extra))
    if not embedded:  # its own batch past a lowered threshold: bug 2's region
        busy = draw(st.sampled_from(BUSY_THRESHOLDS_MS[1:]))
    return draw(_distinct_words(cap, Review(embedded, busy, extra=tuple(extra))))


@st.composite
def _distinct_words(draw: st.DrawFn, cap: int, base: Review) -> Review:
    """A distinct-words file, three in four with a fault before a staged commit; a stop
    until robbed gets pieces each past the staging threshold and two workers (the
    thief's batch of one piece is staged too, in fewer parts than the stopped worker's)."""
    kind = draw(st.sampled_from(STAGED_COMMIT_FAULTS)) if draw(st.integers(0, 3)) else None
    if kind is not None and cap >= ROBBED_WORDS[0] and draw(st.booleans()):
        kind = ROBBED
    low, high = ROBBED_WORDS if kind == ROBBED else DISTINCT_WORDS
    words = draw(st.integers(low, min(cap, high)))
    dataset = Dataset(generated=Generated(seed=draw(st.integers(0, 2**31 - 1)), files=1,
                                          words=words, vocabulary=words,
                                          exotic=draw(st.booleans())))  # fmt: skip
    size = max(len(spec.data) for spec in all_files(dataset))
    if kind == ROBBED:
        pieces = draw(st.integers(3, max(3, min(5, words // ROBBED_PIECE_WORDS))))
    else:
        pieces = draw(st.integers(1 if kind is None else 2, 5))
    found = dataclasses.replace(base, dataset=dataset,
                                chunk_bytes=0 if pieces == 1 else size // pieces + 1)
    if kind is None:
        return found
    # A stop until robbed counts only batches of two tasks or more (a theft from a batch
    # of one splits nothing): the first such batch to reach its commit.
    nth = 1 if kind == ROBBED else draw(st.integers(1, 2))
    return dataclasses.replace(
        found, extra=(*base.extra, (cp.WORKER_BEFORE_COMMIT, nth, kind)),
        min_workers=THIEVES_RACE_WORKERS if kind != ROBBED else 1,
        workers=2 if kind == ROBBED else 0,
    )  # fmt: skip
