"""Periodic BGSAVE for the ``snapshot`` persistence mode.

Redis' own ``save`` rule counts in whole seconds, and the labs' checkpoint interval goes
below that, so the node object drives snapshots itself from a daemon thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import redis

SOCKET_TIMEOUT_S = 0.5
"""Long enough for BGSAVE (it only forks), short enough that a paused server costs little."""


class SnapshotTicker:
    """Calls BGSAVE every ``interval_ms`` while started.

    The thread outlives crashes of the server: a refused connection, a paused server or a
    restart in progress only skips that tick. Ticks run one after another in a single
    thread, so a slow or hung server can never make them pile up; a tick that overran is
    not made up for.
    """

    def __init__(self, connect: Callable[[], redis.Redis], interval_ms: int, name: str) -> None:
        self._connect = connect
        self._interval_s = interval_ms / 1000
        self._name = name
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self.ticks = 0
        """Snapshots the server accepted: lets tests check the thread really runs."""

    def start(self) -> None:
        """Start ticking (idempotent)."""
        running = self._thread is not None and self._thread.is_alive()
        if running and self._stop is not None and not self._stop.is_set():
            return
        # A fresh event per run: a thread still finishing a tick after stop() keeps the
        # old, set event and exits, whatever the new run does.
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop ticking; waits a little for a tick in flight, never long."""
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._thread = None

    def _run(self, stop: threading.Event) -> None:
        client = self._connect()
        try:
            next_tick = time.monotonic() + self._interval_s
            while not stop.wait(max(0.0, next_tick - time.monotonic())):
                if self._tick(client):
                    self.ticks += 1
                next_tick = max(next_tick + self._interval_s, time.monotonic())
        finally:
            with contextlib.suppress(Exception):
                client.close()

    @staticmethod
    def _tick(client: redis.Redis) -> bool:
        try:
            client.bgsave()
            return True
        except redis.ResponseError:
            return False  # a BGSAVE or AOF rewrite is already running: next tick
        except (redis.RedisError, OSError):
            client.connection_pool.disconnect()
            return False  # down, paused or restarting: next tick
