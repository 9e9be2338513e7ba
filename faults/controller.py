"""The controller: a Unix-socket server in the test process that engine agents talk to.

Protocol, one JSON object per line each way. An agent sends ``{"point", "ctx", "pid",
"role"}`` and waits; the controller answers ``{"do": "continue" | "crash" | "raise" |
"hang" | "slow", ...}`` once the nemesis has decided (and has done any Redis action).
Each engine process keeps one connection open for its life, so the controller learns
of its end, crash included, from the end of that connection.

A Unix socket rather than TCP: no port to pick or leak, no other host can reach it, and
a round trip costs tens of microseconds.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from pathlib import Path
from typing import Any

from faults.errors import ControllerError
from faults.nemesis import Nemesis


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        pid, role = 0, "unknown"
        try:
            for line in self.rfile:
                message = json.loads(line)
                pid, role = int(message.get("pid", 0)), str(message.get("role", "unknown"))
                reply = self.server.answer(message)
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()
        except (OSError, ValueError):
            pass  # the process died mid-line or the run is being torn down
        finally:
            if pid:
                self.server.nemesis.exited(pid, role)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, nemesis: Nemesis, failures: list[str]) -> None:
        self.nemesis = nemesis
        self.failures = failures
        super().__init__(path, _Handler)

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        """The nemesis' decision; a bug in it must not leave an engine process hanging."""
        try:
            return self.nemesis.arrive(
                str(message["point"]),
                dict(message.get("ctx") or {}),
                int(message["pid"]),
                str(message.get("role", "unknown")),
            )
        except Exception as exc:
            self.failures.append(f"controller failed on {message!r}: {type(exc).__name__}: {exc}")
            return {"do": "continue"}


class Controller:
    """Serves agents on ``path`` from a background thread between start and stop."""

    def __init__(self, path: str | os.PathLike[str], nemesis: Nemesis) -> None:
        self.path = str(path)
        self.nemesis = nemesis
        self.failures: list[str] = []
        """Arrivals the nemesis failed on (answered "continue"): bugs of this package."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self._server = _Server(self.path, self.nemesis, self.failures)
        except OSError as exc:
            raise ControllerError(
                f"cannot listen on {self.path} ({exc}): use a shorter temp dir (Unix socket "
                "paths are limited to about 100 bytes) or one this user can write"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="faults-controller",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and remove the socket (connections still open just end)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> Controller:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
