"""SIGTERM ends a run the way Ctrl-C does: workers stopped, the embedded Redis closed.

Python's default for SIGTERM is to die at once, skipping every ``finally``: the driver's
workers went on for up to a minute on their own and the embedded Redis's data directory
stayed in the temp folder. Raising :class:`Terminated` (a KeyboardInterrupt) instead lets
the same clean-up run as for Ctrl-C.
"""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""

    exit_code = 128 + signal.SIGTERM


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # One clean-up is enough: a second SIGTERM must not interrupt it half way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def terminate_like_interrupt() -> None:
    """Install the handler (main thread only, as Python requires for signal handlers)."""
    signal.signal(signal.SIGTERM, _on_sigterm)
