"""Workers forked from the driver (engine/forkstart.py): the pool's process interface,
the fallback to a fresh interpreter, and a forked worker's clean slate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine import forkstart


def test_forked_worker_wait_poll_kill() -> None:
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    proc = forkstart.ForkedWorker(pid)
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.05)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert proc.poll() == -signal.SIGKILL
    proc.kill()  # already reaped: a no-op, as for Popen


def test_exit_status_of_a_forked_command(tmp_path: Path) -> None:
    """The child runs ``wordcount`` and exits with its status (2: a usage error here)."""
    env = {**os.environ, "WORDCOUNT_REDIS_URL": ""}
    proc = forkstart.fork_worker(["worker", "--job", "j", "--redis-timeout", "nope"], env)
    assert proc.wait(timeout=60) == 2


def test_can_fork_only_single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forkstart.START_ENV, raising=False)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forkstart.can_fork()  # pytest's own threads aside, this one is ours
    finally:
        stop.set()
        thread.join()
    monkeypatch.setenv(forkstart.START_ENV, "exec")
    assert not forkstart.can_fork()


def test_fork_is_the_default_when_single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forkstart.START_ENV, raising=False)
    code = "from engine import forkstart; raise SystemExit(0 if forkstart.can_fork() else 1)"
    env = {k: v for k, v in os.environ.items() if k != forkstart.START_ENV}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


def test_a_forked_child_closes_the_parents_hook() -> None:
    """The parent's crash-point connection is closed in the child, so the controller sees
    the parent end when it ends, not when its last forked worker does."""
    from engine import crashpoints

    class Owner:
        def __init__(self) -> None:
            self.closed = False
            self.seen: list[str] = []

        def reach(self, point: str, context: dict[str, object]) -> None:
            self.seen.append(point)

        def close(self) -> None:
            self.closed = True

    owner = Owner()
    crashpoints.install(owner.reach)
    try:
        crashpoints.forget_after_fork()
        crashpoints.reach("worker.after_read")
    finally:
        crashpoints.install(None)
    assert owner.closed and owner.seen == []
