"""The heartbeat leaves no reference cycle that holds the work thread's frames
(engine/heartbeat.py).

Its look at where each thread is (``sys._current_frames()``) formed a cycle with its own
frame. Until the garbage collector's next full pass, each such cycle kept the frame the
work thread was in, and, once that function returned, all of its locals and its callers'
frames: a MapReduce worker kept the blocks and Arrow arrays of several map tasks at once,
680 MB of RSS on a 2 GB file against 278 MB before the heartbeat (docs/mapreduce.md).
The garbage collector is off here, so a cycle keeps what it holds for the whole test.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from engine.heartbeat import Heartbeat

CLAIM_MS = 200
BEATS = 4


class CountingSession:
    """A heartbeat session that only counts the beats."""

    def __init__(self) -> None:
        self.beats = 0

    def heartbeat(self, entry_ids: list[str], ttl_ms: int, state: str) -> list[bool]:
        self.beats += 1
        return [True] * len(entry_ids)

    def farewell(self) -> None:
        pass

    def waiting(self) -> bool:
        return False


class Payload:
    """Stands for a map task's blocks and arrays (a weak reference tells if it is gone)."""


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _work_through_beats(session: CountingSession) -> weakref.ref[Payload]:
    """Hold a payload in this frame, busy in Python, while the heartbeat looks a few times."""
    payload = Payload()
    deadline = time.monotonic() + 30
    while session.beats < BEATS and time.monotonic() < deadline:
        sum(range(1000))
    assert session.beats >= BEATS
    return weakref.ref(payload)


@pytest.mark.usefixtures("no_gc")
def test_a_returned_function_keeps_nothing_the_heartbeat_saw() -> None:
    session = CountingSession()
    beat = Heartbeat(session, CLAIM_MS)
    beat.start()
    try:
        ref = _work_through_beats(session)
    finally:
        beat.stop()
    assert ref() is None, "a heartbeat's reference cycle still holds the work's frame"
