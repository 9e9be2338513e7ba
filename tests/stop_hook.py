"""A crash-point hook for tests/test_hung_worker.py: the first worker to count a task
stops itself with SIGSTOP, as if an outside process had stopped it, and stays stopped
for ever (nobody sends SIGCONT). The marker file makes it happen once per test."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

MARKER_ENV = "STOP_HOOK_MARKER"


def install() -> Callable[[str, dict[str, Any]], None]:
    marker = os.environ[MARKER_ENV]

    def hook(point: str, context: dict[str, Any]) -> None:
        if point != "worker.after_count":
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGSTOP)

    return hook
