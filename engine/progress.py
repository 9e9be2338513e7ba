"""A one-line progress bar for terminals; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from engine.job import JobInfo

WIDTH = 30


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self._last = ""

    def update(self, info: JobInfo, workers: int) -> None:
        if not self.enabled:
            return
        done = info.tasks_done + info.tasks_failed
        total = max(info.n_tasks, 1)
        filled = int(WIDTH * done / total) if info.state != "bootstrapping" else 0
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = (
            f"\r[{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{info.n_tasks} tasks  "
            f"{info.bytes_done / 1e6:.1f}/{info.bytes_total / 1e6:.1f} MB  "
            f"{info.bytes_done / 1e6 / elapsed:.1f} MB/s  {workers} workers"
        )
        if info.tasks_failed:
            line += f"  {info.tasks_failed} failed"
        if line != self._last:
            self.stream.write(line + "\x1b[K")
            self.stream.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            self.stream.write("\n")
            self.stream.flush()
