"""Crash-point hooks for benchmark runs: one slow worker, or a few worker crashes.

The engine installs ``WORDCOUNT_CRASH_HOOK=benchmarks.hooks:FACTORY`` in its driver and
in every worker (engine/crashpoints.py), so these run inside the real worker processes
with no controller and no round trip. Which process is picked is decided through files in
:data:`DIR_ENV` created with ``O_EXCL``: exactly one process wins each token, whatever the
order in which workers start or are replaced.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DIR_ENV = "WORDCOUNT_BENCH_TOKENS"
"""A directory shared by the processes of one run, for the tokens."""
CRASHES_ENV = "WORDCOUNT_BENCH_CRASHES"
"""How many worker crashes ``crash_some`` causes in a run (default 1)."""
CRASH_EXIT = 87

Hook = Callable[[str, dict[str, Any]], None]


def _take(token: str) -> bool:
    """Whether this process is the first to take the token in this run."""
    try:
        fd = os.open(Path(os.environ[DIR_ENV], token), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class HalfSpeed:
    """Makes one worker take twice as long per task: after counting a task, it sleeps
    as long as reading and counting it took."""

    def __init__(self) -> None:
        self.started: float | None = None

    def __call__(self, point: str, context: dict[str, Any]) -> None:
        if point in ("worker.after_read", "worker.after_claim"):
            self.started = time.perf_counter()
        elif point == "worker.after_count" and self.started is not None:
            time.sleep(time.perf_counter() - self.started)
            self.started = None


def slow_one() -> Hook | None:
    """The straggler: the first worker to reach a crash point becomes half speed."""
    slow = HalfSpeed()
    chosen: list[bool] = []

    def hook(point: str, context: dict[str, Any]) -> None:
        if not point.startswith("worker."):
            return
        if not chosen:
            chosen.append(_take("slow"))
        if chosen[0]:
            slow(point, context)

    return hook


def crash_some() -> Hook | None:
    """Worker crashes: the first N tasks counted (N from the environment) each crash their
    worker right after counting, so the task stays pending until the claim timeout."""
    crashes = int(os.environ.get(CRASHES_ENV, "1"))

    def hook(point: str, context: dict[str, Any]) -> None:
        if point != "worker.after_count":
            return
        for i in range(crashes):
            if _take(f"crash-{i}"):
                os._exit(CRASH_EXIT)

    return hook
