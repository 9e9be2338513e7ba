"""The ``worker-sigstop-robbed`` kind's timing: a worker stopped until another worker
steals one of the tasks it holds, then let go ``ms`` later.

A stop of a fixed length ends before the theft (the worker's liveness key outlives it,
and the engine stretches that key's life when its heartbeat runs late) or long after
it (the thief has taken the whole batch). Ending it just after the first theft makes
the stopped worker come back while the thief is still counting what it took: the
worker renews the rest of its batch, and the same tasks are split between two
attempts. Issue 11's bug 5 (a staging hash shared by every attempt of a batch with the
same first task) lived exactly there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from engine.keys import GROUP, JobKeys

POLL_S = 0.003
GIVE_UP_S = 30.0
"""Let the worker go after this long even if nobody stole from it (nothing to steal: the
stop is then an ordinary long one)."""

Read = Callable[[Callable[[redis.Redis], Any]], Any]


class RobbedStop(threading.Thread):
    """Continues ``pid`` ``ms`` after one of ``entries`` left ``consumer`` (stolen, or
    acknowledged by a thief); :meth:`cancel` continues it at once."""

    def __init__(self, pid: int, ms: int, read: Read, keys: JobKeys, consumer: str,
                 entries: Sequence[str]) -> None:  # fmt: skip
        super().__init__(name=f"robbed-{pid}", daemon=True)
        self.pid, self.ms, self.read, self.keys = pid, ms, read, keys
        self.consumer, self.entries = consumer, list(entries)
        self.robbed_after_s: float | None = None
        self._seen_held = False
        self._done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self._done.wait(POLL_S) and time.monotonic() - started < GIVE_UP_S:
            with contextlib.suppress(redis.RedisError, OSError):
                if self._robbed():
                    self.robbed_after_s = time.monotonic() - started
                    self._done.wait(self.ms / 1000)
                    break
        self.cancel()

    def _robbed(self) -> bool:
        """Whether a task it was seen holding has left it (a read that finds none of
        them held before they were ever seen held proves nothing)."""
        rows = self.read(lambda c: [c.xpending_range(self.keys.tasks, GROUP, e, e, 1)
                                    for e in self.entries])  # fmt: skip
        held = [bool(row) and _text(row[0]["consumer"]) == self.consumer for row in rows]
        if not self._seen_held:
            self._seen_held = any(held)
            return False
        return not all(held)

    def cancel(self) -> None:
        self._done.set()
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGCONT)


def stop_until_robbed(pid: int, ms: int, read: Read, keys: JobKeys,
                      context: dict[str, Any]) -> RobbedStop | None:  # fmt: skip
    """SIGSTOP ``pid`` and start the thread that continues it; ``None`` if the context
    names no task it holds (then it is not stopped at all)."""
    consumer = context.get("consumer")
    entries = context.get("entries") or ([context["entry"]] if context.get("entry") else [])
    if not isinstance(consumer, str) or not entries:
        return None
    os.kill(pid, signal.SIGSTOP)
    stop = RobbedStop(pid, ms, read, keys, consumer, [str(e) for e in entries])
    stop.start()
    return stop


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
