"""Ending the ``wordcount`` process without finalizing the interpreter.

Tearing down an interpreter that imported redis-py (with its asyncio, SSL and telemetry
modules) and the engine took 0.07-0.13 s of CPU per process on this machine, a fifth of
a tiny job's fixed cost, and every driver and exec'd worker paid it. The work finalization
does that matters is done here, in order: the exit hooks (nodes closed, crash-point
agent told), logging's handlers flushed, the standard streams flushed. A process that
still runs threads of its own, or cannot flush its output, exits the ordinary way.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading


def exit_now(code: int) -> None:
    """Exit with ``code`` at once (see the module docstring); never returns."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)  # a non-daemon thread must be joined: the ordinary exit
    atexit._run_exitfuncs()
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        raise SystemExit(code) from None  # e.g. a closed pipe: let Python report it
    os._exit(code)
