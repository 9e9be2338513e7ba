"""The runner's handle on its fork server (:mod:`faults.forkserver`): drivers forked from a
process that has imported them already, instead of a fresh interpreter each.

One server per process that runs scenarios (so one per xdist worker), started on the
first driver and stopped at exit (or by :func:`stop`). :func:`spawn` returns a
:class:`ServedProcess`, which offers the part of :class:`subprocess.Popen` the runner
uses (``pid``, ``poll``, ``wait``, ``kill``, ``returncode``): the exit status comes from
the server, which is the driver's parent. ``FAULTS_DRIVER_START=exec`` turns it off (a
fresh ``python -m engine`` per driver, as before).

A forked driver's ``/proc/PID/environ`` is the server's, not the one it was given (the
kernel shows the environment a process was exec'd with), so the runner recognises its
processes by session as well (:func:`faults.client.kill_ours`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faults.errors import RunnerError

START_ENV = "FAULTS_DRIVER_START"
"""``fork`` (the default): drivers from the fork server; ``exec``: a fresh interpreter each."""
READY_TIMEOUT_S = 120.0
"""How long the server may take to import everything (a loaded machine is slow)."""
REPLY_TIMEOUT_S = 60.0
PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


class ServedProcess:
    """A driver forked by the server; its exit status arrives on its connection."""

    def __init__(self, conn: socket.socket, pid: int, argv: list[str]) -> None:
        self.conn = conn
        self.pid = pid
        self.args = argv
        self.returncode: int | None = None
        self._buffer = b""

    def poll(self) -> int | None:
        return self._receive(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._receive(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)

    def _receive(self, timeout: float | None) -> int | None:
        """The exit status, waiting up to ``timeout`` for the server to send it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.conn], [], [], left)
            if not ready:
                return None
            chunk = self.conn.recv(4096)
            if not chunk:
                self.conn.close()
                raise RunnerError(f"the fork server ended before driver {self.pid} did: "
                                  f"set {START_ENV}=exec to start drivers without it")  # fmt: skip
            self._buffer += chunk
            if b"\n" in self._buffer:
                self.returncode = int(json.loads(self._buffer.split(b"\n", 1)[0])["exit"])
                self.conn.close()
        return self.returncode


class ForkServer:
    """One ``python -m faults.forkserver`` process and its socket."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        """A child forked from this process inherits this object, not the server."""
        self.dir = tempfile.mkdtemp(prefix="faults-forkserver-")
        self.path = os.path.join(self.dir, "sock")
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": PROJECT_ROOT + (os.pathsep + path if path else "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faults.forkserver", self.path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self.close()
            raise RunnerError(f"the driver fork server did not start ({line!r}): set "
                              f"{START_ENV}=exec to start drivers without it")  # fmt: skip

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(
        self, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: str
    ) -> ServedProcess:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(REPLY_TIMEOUT_S)
            conn.connect(self.path)
            request = {"argv": argv, "env": dict(env), "cwd": cwd, "log": str(log_path)}
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply, rest = _line(conn)
            conn.settimeout(None)
        except (OSError, ValueError) as exc:
            conn.close()
            raise RunnerError(f"cannot start the driver through the fork server: {exc}") from exc
        if "pid" not in reply:
            conn.close()
            raise RunnerError(f"the fork server could not start the driver: {reply.get('error')}")
        served = ServedProcess(conn, int(reply["pid"]), argv)
        served._buffer = rest
        return served

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the server's cue to exit
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _line(conn: socket.socket) -> tuple[dict[str, Any], bytes]:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("the fork server closed the connection")
        data += chunk
    first, rest = data.split(b"\n", 1)
    return json.loads(first), rest


_server: ForkServer | None = None
_lock = threading.Lock()


def enabled() -> bool:
    """Whether drivers come from the fork server (Linux with pidfds, not turned off)."""
    return os.environ.get(START_ENV, "fork") != "exec" and hasattr(os, "pidfd_open")


def spawn(
    argv: list[str], env: Mapping[str, str], log_path: Path, cwd: str | None = None
) -> ServedProcess:
    """Start ``argv`` (``python -m MODULE ...``) forked from this process's server, in
    ``cwd`` (this process's working directory by default, as ``Popen`` would)."""
    global _server
    with _lock:
        if _server is not None and _server.owner != os.getpid():
            _server = None  # inherited through a fork: our parent's, not ours to use or stop
        if _server is None or not _server.alive():
            if _server is not None:
                _server.close()
            _server = ForkServer()
        server = _server
    return server.spawn(argv, env, log_path, cwd or os.getcwd())


def server_pid() -> int | None:
    """The server's PID while it runs (tests that count processes leave it out)."""
    server = _server
    if server is None or server.owner != os.getpid() or not server.alive():
        return None
    return server.proc.pid


@atexit.register
def stop() -> None:
    """Stop the server (it would exit on its own once this process is gone)."""
    global _server
    with _lock:
        if _server is not None and _server.owner == os.getpid():
            _server.close()
        _server = None
