"""Supervision of the driver's embedded Redis, on a thread of its own.

The driver used to look at its embedded node only between polls, while a single retried
call can last up to a minute: a redis-server killed mid-commit was never restarted, and
the run ended with "did not answer for 60 s". This thread looks every 100 ms (a second
for a container), whatever the driver is doing, and restarts the node (with whatever its
persistence kept).

Some deaths cannot be cured by a restart: a full disk (Redis exits when it cannot write
its append-only file), or a server that will not start again. Then the thread aborts the
driver's Redis calls (:func:`engine.connection.abort_retries`) with one line that says
what happened and what to change, instead of letting them retry for a minute.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from engine import connection, forkstart
from engine.errors import NodeError, WordCountError
from engine.nodes.base import RedisNode
from engine.nodes.process import ProcessNode

log = logging.getLogger("wordcount.embedded")
CHECK_S = 0.1
"""How often a local redis-server is looked at (a poll() of its process: free)."""
CHECK_CONTAINER_S = 1.0
"""How often a container is (each look is a call to the Docker daemon)."""
MAX_DEATHS = 10
"""Deaths within :data:`DEATH_WINDOW_S` before the driver gives up on the node."""
DEATH_WINDOW_S = 60.0
DISK_FULL_SIGNS = ("No space left on device", "Disk quota exceeded", "Short write while writing")
"""What redis-server logs when a write of its files does not fit (a short write is what
a nearly full disk gives; Redis then truncates the file, so the space looks free again)."""
LOW_SPACE_BYTES = 128 * 1024
"""Less free space than this where Redis writes, at its death, reads as a full disk."""


class EmbeddedRedisError(WordCountError):
    """The embedded Redis died and cannot be brought back."""


class EmbeddedWatch:
    """Restarts the embedded node whenever it is found dead; see the module docstring."""

    def __init__(self, node: RedisNode) -> None:
        self.node = node
        self.restarts = 0
        self.failed_restarts = 0
        self._failed = ""
        """Why the last restart failed, if it did (named when the watch gives up)."""
        self.error: EmbeddedRedisError | None = None
        self._deaths: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-redis", daemon=True)

    def start(self) -> None:
        self._thread.start()
        forkstart.register_pausable(self)

    def stop(self) -> None:
        forkstart.unregister_pausable(self)
        self.pause()

    def pause(self) -> None:
        """Stop looking (the driver forks a worker: engine/forkstart.py)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def between_polls(self) -> None:
        """Called by the driver between two looks at the job. Nothing to do: the thread
        watches whatever the driver is doing (``faults.buggy_review`` keeps the old
        watch, which looked only here)."""

    def resume(self) -> None:
        """Look again, unless the thread gave up on the node or is still running."""
        if self.error is not None or self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-redis", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        every = CHECK_S if isinstance(self.node, ProcessNode) else CHECK_CONTAINER_S
        while not self._stop.wait(every):
            if self.node.is_running():
                continue
            self.error = self._revive()
            if self.error is not None:
                connection.abort_retries(self.error)
                return

    def _revive(self) -> EmbeddedRedisError | None:
        """Restart the node; the error to stop the run with, if it cannot be helped."""
        now = time.monotonic()
        self._deaths = [t for t in self._deaths if now - t < DEATH_WINDOW_S] + [now]
        full = _disk_full(self.node)
        if full:
            return EmbeddedRedisError(
                f"the embedded Redis exited: its disk is full ({full}); free space there, "
                "or run with --persistence none or --redis-url"
            )
        if len(self._deaths) > MAX_DEATHS:
            why = self._failed and f": {self._failed}"
            why = why or f"; its log says why: {_log_path(self.node)}"
            return EmbeddedRedisError(
                f"the embedded Redis died {len(self._deaths)} times in "
                f"{DEATH_WINDOW_S:.0f} s and could not be kept running{why}"
            )
        log.warning("the embedded Redis died; restarting it")
        try:
            self.node.restart()
        except (NodeError, OSError) as exc:
            # Killed again while it started (a second kill, an OOM killer): one more death,
            # and the next look restarts it again, until the death budget runs out.
            self._failed = str(exc).splitlines()[0]
            self.failed_restarts += 1
            log.warning("the embedded Redis did not come back (%s); trying again", self._failed)
            return None
        self._failed = ""
        self.restarts += 1
        return None


def _log_path(node: RedisNode) -> str:
    return str(getattr(node, "log_path", "?"))


def _disk_full(node: RedisNode) -> str:
    """Why the node's disk looks full (its log says so, or hardly a byte is free), or ""."""
    data_dir = getattr(node, "data_dir", None)
    if isinstance(data_dir, Path):
        try:
            free = shutil.disk_usage(data_dir).free
        except OSError:
            free = LOW_SPACE_BYTES
        if free < LOW_SPACE_BYTES:
            return f"{free // 1024} KiB free in {data_dir}"
    path = getattr(node, "log_path", None)
    if not isinstance(path, Path):
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 8192))
            tail = f.read().decode(errors="replace")
    except OSError:
        return ""
    last_start = tail.rfind("--- wordcount: starting")
    for line in reversed(tail[max(last_start, 0) :].splitlines()):
        if any(sign in line for sign in DISK_FULL_SIGNS):
            return f"{line.strip()[-120:]} in {getattr(node, 'data_dir', '?')}"
    return ""
