"""A worker's heartbeat: a thread that keeps the claims of a live, working worker.

Claims used to be renewed only between 8 MB blocks of the counting loop, so a worker that
was merely slow (importing pandas, reading, waiting for a core on a loaded machine) lost
its tasks to other workers, and since every theft counted as a delivery, a healthy task
could be dead-lettered as poison. Now a thread, independent of the work, does two things
every quarter of the claim timeout, in one Redis Function call (``wc_heartbeat``):

- it writes the worker's liveness key (:meth:`engine.keys.JobKeys.alive`) with a time to
  live of :func:`alive_ttl_ms`: ``working``, or ``stalled`` once no work thread has moved
  for :func:`stall_after_s` (a deadlock, a hang in a system call);
- while working, it renews the claim of every task the worker holds.

Other workers steal a stale task only when its owner's key does not say ``working``
(:meth:`engine.session.WorkerSession.claim_stale`): the owner died (its key expired),
or it stalled. So a theft is always from a worker known dead or stuck, and counting it
as a failed attempt (the delivery count that ``--max-attempts`` bounds) is right: a
task that crashes or hangs every worker that takes it is still dead-lettered, and a task
of a live worker is never. A process stopped as a whole (SIGSTOP) stops its heartbeat
too; its key expires and its tasks are stolen as a dead worker's.

A thread starved of CPU on a busy machine wakes late. The heartbeat measures how late
(the longest delay past its interval, fading by half every :data:`STARVED_HALF_LIFE_S`)
and stretches both its margins by four times that: the time to live it writes, and the
time without progress after which it calls its worker stalled. On a quiet machine the
delay is near zero and nothing changes; at a load average of 25 on two cores, fixed
margins let live workers' tasks be stolen until a healthy input was dead-lettered.

"Moved" means: an explicit :meth:`Heartbeat.beat` from the work (a block counted), or CPU
time used by a work thread, or a change of the Python frame it executes (both sampled
from this thread), so a long import or any computation counts as progress without
instrumenting it, while a thread asleep, blocked on a lock or hung in a system call does
not. Waiting for a Redis reply counts as moving: every try ends within the socket
timeout, and a slow Redis slows every worker alike.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from redis.exceptions import RedisError

from engine.errors import WordCountError

log = logging.getLogger("wordcount.heartbeat")
MIN_CLAIM_TIMEOUT_MS = 100
"""Below this a worker would renew its claims every 25 ms or less: refused at job creation."""


def interval_s(claim_timeout_ms: int) -> float:
    """How often the heartbeat renews: a quarter of the claim timeout."""
    return claim_timeout_ms / 4000


def stall_after_s(claim_timeout_ms: int) -> float:
    """No progress for this long and the worker is ``stalled``: twice the claim timeout,
    and at least a second (a long C call, e.g. counting one 8 MB block, shows no change)."""
    return max(2 * claim_timeout_ms / 1000, 1.0)


def alive_ttl_ms(claim_timeout_ms: int) -> int:
    """The liveness key's time to live: the claim timeout plus a grace of one more (at
    least 1 s, at most 5 s), so a heartbeat thread starved of CPU for less than that on
    a loaded machine still reads as alive, and a dead worker's tasks wait at most that
    long before they are stolen."""
    return claim_timeout_ms + min(max(claim_timeout_ms, 1000), 5000)


STARVED_HALF_LIFE_S = 30.0
STARVED_MARGIN = 4.0
"""How many times the longest recent delay both margins grow by."""
MAX_STRETCH_MS = 60_000


def stretch_ms(starved_s: float) -> int:
    """What a heartbeat that woke ``starved_s`` late adds to its margins (capped)."""
    return min(MAX_STRETCH_MS, int(STARVED_MARGIN * max(0.0, starved_s) * 1000))


class Heartbeat:
    """The heartbeat thread of one worker (see the module's docstring)."""

    def __init__(self, session: HeartbeatSession, claim_timeout_ms: int) -> None:
        self.session = session
        self.claim_timeout_ms = claim_timeout_ms
        self._lock = threading.Lock()
        self._held: dict[str, None] = {}
        self.lost: set[str] = set()
        """Entries found no longer ours (stolen): the work may stop counting them."""
        self._beats = 0
        self._watched: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stalled = False
        self.starved_s = 0.0
        """The longest recent delay of this thread past its interval (see the module)."""

    def start(self) -> None:
        self.watch_current_thread()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.session.farewell()

    def watch_current_thread(self) -> None:
        """Count the calling thread's progress as the worker's (the commit thread calls it)."""
        with self._lock:
            self._watched.add(threading.get_ident())

    def beat(self) -> None:
        """Progress: called by the work at each step."""
        self._beats += 1

    def hold(self, entry_ids: Iterable[str]) -> None:
        with self._lock:
            for entry_id in entry_ids:
                self._held[entry_id] = None
                self.lost.discard(entry_id)

    def release(self, entry_ids: Iterable[str]) -> None:
        with self._lock:
            for entry_id in entry_ids:
                self._held.pop(entry_id, None)

    def release_all(self) -> None:
        with self._lock:
            self._held.clear()

    def _position(self) -> tuple[object, ...]:
        """Where the work threads are: beats, and each watched thread's CPU time and frame
        position (a thread that computes uses CPU; one that is hung, asleep or blocked
        in a system call uses none and stays where it is)."""
        with self._lock:
            watched = sorted(self._watched)
        spots: list[object] = [self._beats]
        if self.session.waiting():
            spots.append(time.monotonic())  # waiting for Redis: not stuck
        for ident, spot in zip(watched, _frame_spots(watched), strict=True):
            spots += [spot, _cpu_time(ident)]
        return tuple(spots)

    def _run(self) -> None:
        every = interval_s(self.claim_timeout_ms)
        stall_s = stall_after_s(self.claim_timeout_ms)
        position, moved = self._position(), time.monotonic()
        last = moved
        while not self._stop.wait(every):
            now = time.monotonic()
            self._starved(now - last - every, now - last)
            last = now
            now_position = self._position()
            if now_position != position:
                position, moved = now_position, now
            stalled = now - moved > stall_s + stretch_ms(self.starved_s) / 1000
            if stalled != self.stalled:
                self.stalled = stalled
                log.warning("worker %s", "stalled: its tasks may be stolen" if stalled
                            else "moves again")  # fmt: skip
            self._tick(stalled)

    def _starved(self, late_s: float, elapsed_s: float) -> None:
        """Note a wake-up ``late_s`` past the interval (the previous beat's own Redis call
        included); older delays fade."""
        faded = self.starved_s * 0.5 ** (elapsed_s / STARVED_HALF_LIFE_S)
        self.starved_s = max(faded, late_s, 0.0)

    def _tick(self, stalled: bool) -> None:
        with self._lock:
            held = [] if stalled else list(self._held)
        ttl_ms = alive_ttl_ms(self.claim_timeout_ms) + stretch_ms(self.starved_s)
        try:
            owned = self.session.heartbeat(held, ttl_ms, "stalled" if stalled else "working")
        except (WordCountError, RedisError, OSError) as exc:
            # Redis down, reloading, or the job lost: the work's own calls handle that,
            # and the next beat tries again.
            log.debug("heartbeat failed: %s", exc)
            return
        gone = [entry for entry, ours in zip(held, owned, strict=False) if not ours]
        if gone:
            with self._lock:
                self.lost.update(gone)
                for entry_id in gone:
                    self._held.pop(entry_id, None)


class HeartbeatSession(Protocol):
    """What the heartbeat needs from a worker's session."""

    def heartbeat(self, entry_ids: list[str], ttl_ms: int, state: str) -> list[bool]: ...

    def farewell(self) -> None: ...

    def waiting(self) -> bool: ...


def _frame_spots(idents: list[int]) -> list[tuple[int, int] | None]:
    """Where each thread of ``idents`` is in its code: (code object's id, instruction).

    ``sys._current_frames()`` holds this very function's frame too, whose locals hold the
    dict: a reference cycle that only the garbage collector frees, and a worker, which
    makes few Python objects, runs it seldom. Until then the cycle kept the work thread's
    frame alive and, once that function returned, all its locals with it: a MapReduce
    worker's map blocks and Arrow arrays, one set per beat, took its peak RSS on a 2 GB
    file from 278 MB to 680 MB (docs/mapreduce.md). So the dict is emptied before this
    returns, and only numbers leave it.
    """
    frames = sys._current_frames()
    try:
        spots: list[tuple[int, int] | None] = []
        for ident in idents:
            frame = frames.get(ident)
            spots.append(None if frame is None else (id(frame.f_code), frame.f_lasti))
        return spots
    finally:
        frames.clear()


def _cpu_time(ident: int) -> float | None:
    """CPU time of the thread ``ident`` (Linux and other POSIX systems), else ``None``."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError, OverflowError):
        return None
