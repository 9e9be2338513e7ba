"""Starting a worker by forking the driver instead of a fresh interpreter.

A new ``python -m engine worker`` spends about 0.15 s of CPU importing redis and the
engine before it does anything; a job with four workers pays that four times, and on a
loaded machine (the fault suite runs hundreds of short jobs) it was the largest share
of a run. The driver has imported all of it already, so a forked child starts working
at once. It runs exactly the ``wordcount worker`` command, through :func:`engine.cli.main`,
with the same arguments and environment an exec'd worker would get.

Forking is only safe while the driver has a single thread (a lock held by another
thread at the fork would stay held for ever in the child), so :func:`can_fork` says no
otherwise, and the pool then starts an interpreter as before. A thread that can stop and
start again (the embedded Redis watch) registers with :func:`register_pausable`; the pool
forks inside :func:`threads_paused`, which stops those threads for the length of the fork
(without that, every run on an embedded Redis exec'd its workers). ``WORDCOUNT_WORKER_START=exec``
forces that (e.g. to measure a worker's own memory, or to see ``worker`` in ``ps``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Protocol

START_ENV = "WORDCOUNT_WORKER_START"
"""``exec`` (a fresh interpreter per worker) or ``fork`` (the default, when safe)."""


class Pausable(Protocol):
    """An owner of a thread that may be stopped while the driver forks."""

    def pause(self) -> None:
        """Stop the thread; return once it has ended (or it is still running: no fork)."""

    def resume(self) -> None:
        """Start the thread again."""


_PAUSABLE: list[Pausable] = []


def register_pausable(owner: Pausable) -> None:
    _PAUSABLE.append(owner)


def unregister_pausable(owner: Pausable) -> None:
    if owner in _PAUSABLE:
        _PAUSABLE.remove(owner)


@contextlib.contextmanager
def threads_paused() -> Iterator[None]:
    """The registered threads stopped for the length of the block (a fork), unless
    workers are exec'd anyway."""
    owners = [] if os.environ.get(START_ENV, "fork") == "exec" else list(_PAUSABLE)
    paused: list[Pausable] = []
    try:
        for owner in owners:
            owner.pause()
            paused.append(owner)
        yield
    finally:
        for owner in paused:
            owner.resume()


def can_fork() -> bool:
    """Whether a worker may be forked from this process now."""
    if os.environ.get(START_ENV, "fork") == "exec" or not hasattr(os, "fork"):
        return False
    return threading.active_count() == 1


class ForkedWorker:
    """A forked worker, with the part of :class:`subprocess.Popen`'s interface the pool
    uses (``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``, ``returncode``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: it is gone, status unknown
                self.returncode = -signal.SIGKILL
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["worker", str(self.pid)], timeout or 0.0)
            remaining = 0.05 if deadline is None else deadline - time.monotonic()
            time.sleep(max(0.0, min(delay, remaining, 0.05)))
            delay *= 2
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_worker(argv: list[str], env: Mapping[str, str]) -> ForkedWorker:
    """Fork and run ``wordcount`` with ``argv`` (``["worker", ...]``) in the child."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedWorker(pid)
    code = 1
    try:
        code = _child(argv, env)
    finally:
        os._exit(code)


def _child(argv: list[str], env: Mapping[str, str]) -> int:
    """Become a fresh worker: the driver's exit hooks, signal handlers, crash-point hook
    and logging set-up are dropped, and the command runs as ``wordcount worker`` would."""
    code = 1
    try:
        atexit._clear()  # the driver's hooks (its crash-point agent's farewell) are not ours
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(env)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        from engine import cli, crashpoints

        crashpoints.forget_after_fork()
        sys.argv = [sys.argv[0], *argv]
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    return code
