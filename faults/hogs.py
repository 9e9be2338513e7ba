"""CPU hogs: busy processes that take every core away from the run beside them.

A live worker that is merely slow (waiting for a core, importing pandas) must keep its
task, and a gate that passes only on a quiet machine teaches people to re-run it. The
``cpu-hog`` fault kind starts hogs for a while in the middle of a scenario, and ``faults
soak --load N`` keeps N of them running for the whole soak. Each hog is a child process
of this one (so the suite's sweep finds any left behind) that only spins.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading

SPIN = "while True: pass"


def cores() -> int:
    """The cores this process may run on: one hog per core oversubscribes them all."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Hogs:
    """``n`` spinning processes between :meth:`start` and :meth:`stop` (idempotent)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            for _ in range(self.n - len(self._procs)):
                self._procs.append(subprocess.Popen(
                    [sys.executable, "-c", SPIN], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip

    def stop(self) -> None:
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()

    def running(self) -> int:
        with self._lock:
            return sum(p.poll() is None for p in self._procs)

    def __enter__(self) -> Hogs:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
