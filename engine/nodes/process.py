"""A Redis server run as a local ``redis-server`` child process.

The cheapest node: it starts in tens of milliseconds, so the fault suite can kill and
restart it hundreds of times. It must never outlive this program, whether the program
closes it, exits normally (atexit) or is killed (the kernel's parent-death signal).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

import redis

from engine.errors import NodeError
from engine.nodes.base import Persistence
from engine.nodes.common import (
    ManagedNode,
    clear_dir,
    free_port,
    remove_tree,
    server_args,
    shutdown,
    tail,
    track,
    untrack,
    wait_ready,
    write_secret_config,
)

LOG_NAME = "redis.log"
"""The server's log, kept in the data directory and spared by wipes."""
STOP_TIMEOUT_S = 10.0
"""How long a SHUTDOWN may take (it may be writing a snapshot) before SIGTERM, then SIGKILL."""
_SEARCH_DIRS = ("/usr/sbin", "/usr/local/bin", "/usr/bin", "/opt/homebrew/bin")
_PR_SET_PDEATHSIG = 1
_T = TypeVar("_T")


def find_redis_server() -> str | None:
    """The ``redis-server`` binary on PATH or in the usual install places, if any."""
    found = shutil.which("redis-server")
    if found:
        return found
    for folder in _SEARCH_DIRS:
        candidate = Path(folder, "redis-server")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_redis_server(binary: str | None = None) -> str:
    """The binary to run, or a NodeError that says how to get one."""
    if binary is not None:
        if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
            raise NodeError(f"redis-server binary {binary!r} is missing or not executable")
        return binary
    found = find_redis_server()
    if found is None:
        raise NodeError(
            "redis-server not found: install it (apt-get install redis-server) or pass --redis-url"
        )
    return found


class ProcessNode(ManagedNode):
    """A ``redis-server`` child process with a fixed port, password and data directory.

    The server runs in its own session, so a Ctrl-C meant for this program does not kill
    it before the program has had the chance to stop it cleanly.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        password: str | None = None,
        data_dir: str | Path | None = None,
        persistence: Persistence = Persistence(),  # noqa: B008 - frozen, so sharing is safe
        binary: str | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = require_redis_server(binary)
        self.extra_args = tuple(extra_args)
        """More ``redis-server`` options (never secrets: they show in ps), such as
        ``--cluster-enabled yes`` for a member of a Redis Cluster."""
        self._init_identity(
            host=host, port=port, password=password, data_dir=data_dir, persistence=persistence
        )
        self.log_path = self.data_dir / LOG_NAME
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        track(self)

    def __repr__(self) -> str:
        return f"ProcessNode(port={self.port}, pid={self.pid}, data_dir={str(self.data_dir)!r})"

    @property
    def pid(self) -> int | None:
        """The server's process ID while it runs (paused included)."""
        return self._proc.pid if self.is_running() and self._proc else None

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise NodeError(f"{self!r} is closed: create a new node")
            if self.is_running():
                return
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for attempt in range(3):
                try:
                    self._launch()
                    break
                except PortTakenError:
                    if not self._may_move or attempt == 2:
                        raise
                    self.port = free_port(self.host)  # lost a race for the port we picked
            self._may_move = False
            if self.persistence.mode == "snapshot":
                self._ticker.start()

    def _launch(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        args = server_args(
            config=str(write_secret_config(self.data_dir, self.password)),
            port=self.port,
            bind=self.host,
            data_dir=str(self.data_dir),
            persistence=self.persistence,
        ) + list(self.extra_args)
        with open(self.log_path, "ab") as log:
            log.write(f"--- wordcount: starting on port {self.port}\n".encode())
            log.flush()
            self._proc = _spawn([self.binary, *args], log, self.data_dir)
        probe = self.client(socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            wait_ready(probe, alive=self.is_running, describe=lambda: self._describe(offset))
            server_pid = int(probe.info("server")["process_id"])
        except (NodeError, redis.RedisError) as exc:
            self.kill()
            if "Address already in use" in self._log_since(offset):
                raise PortTakenError(f"port {self.port} is in use: pick another") from None
            if isinstance(exc, NodeError):
                raise
            message = f"Redis started but then failed ({exc}). {self._describe(offset)}"
            raise NodeError(message) from exc
        finally:
            probe.close()
        if server_pid != self._proc.pid:
            self.kill()
            raise PortTakenError(f"another Redis answers on port {self.port}: pick another")

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _describe(self, offset: int) -> str:
        return f"Its log {self.log_path} ends with:\n{tail(self._log_since(offset))}"

    def stop(self) -> None:
        with self._lock:
            self._ticker.stop()
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                self.resume()  # a stopped process cannot act on SHUTDOWN
                client = self.client(socket_timeout=STOP_TIMEOUT_S, socket_connect_timeout=1.0)
                accepted = shutdown(client, self.persistence)
                client.close()
                _wait_or_escalate(proc, STOP_TIMEOUT_S if accepted else 0.0)
            self._proc = None
            self._paused = False

    def kill(self) -> None:
        with self._lock:
            self._ticker.stop()
            proc = self._proc
            if proc is None:
                return
            # The whole process group: a snapshot or AOF-rewrite child outlives a killed
            # server and may rename its file into place later, so what the node restarts
            # with would race with whoever reads its directory (faults/persisted.py).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # ends a SIGSTOP-ped server too
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._proc = None
            self._paused = False

    def restart(self, *, wipe: bool = False, downtime_s: float = 0.0) -> None:
        with self._lock:
            if self._closed:
                raise NodeError(f"{self!r} is closed: create a new node")
            self.kill()
            if downtime_s > 0:
                time.sleep(downtime_s)
            if wipe:
                clear_dir(self.data_dir, keep={LOG_NAME})
            self.start()

    def pause(self) -> None:
        with self._lock:
            if self._proc is None or not self.is_running():
                raise NodeError(f"cannot pause {self!r}: it is not running; start it first")
            os.kill(self._proc.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            if self._paused and self._proc is not None and self.is_running():
                os.kill(self._proc.pid, signal.SIGCONT)
            self._paused = False

    def is_running(self) -> bool:
        # poll() does not report a SIGSTOP (no WUNTRACED), so a paused server counts as up.
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.stop()
            finally:
                self._closed = True
                untrack(self)
                if self._owns_dir and self.data_dir.exists():
                    remove_tree(self.data_dir)


class PortTakenError(NodeError):
    """Start failed because something else holds the port."""


def _wait_or_escalate(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Wait for the exit SHUTDOWN asked for; then SIGTERM, then SIGKILL. Always reaps."""
    for send, wait_s in ((None, grace_s), (proc.terminate, 5.0), (proc.kill, None)):
        if send is not None:
            with contextlib.suppress(ProcessLookupError):
                send()
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _spawn(args: list[str], log: IO[bytes], cwd: Path) -> subprocess.Popen[bytes]:
    """Start the server so that it dies with this process, however this process ends.

    SIGKILL rather than SIGTERM as the parent-death signal: a paused (SIGSTOP-ped) server
    would hold a SIGTERM pending forever.
    """
    parent = os.getpid()
    prctl = _prctl()

    def in_child() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody would reap us
            os._exit(1)

    def popen() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=in_child,
        )

    try:
        return _in_long_lived_thread(popen)
    except OSError as exc:
        raise NodeError(f"cannot run {args[0]}: {exc}") from exc


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before the fork so the child only makes the call.

    Linux only; elsewhere the atexit hook is the only safety net.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_spawn_queue: queue.SimpleQueue[tuple[Callable[[], object], concurrent.futures.Future[object]]] = (
    queue.SimpleQueue()
)
_spawner_lock = threading.Lock()
_spawner: threading.Thread | None = None


def _in_long_lived_thread(func: Callable[[], _T]) -> _T:
    """Run ``func`` in a thread that lives until the process exits.

    The parent-death signal fires when the *thread* that forked the child ends, so a
    server started from a short-lived thread (a fault injector, a test helper) would die
    with it. The main thread lives as long as the process; other threads hand the fork
    to one daemon thread that never returns.
    """
    if threading.current_thread() is threading.main_thread():
        return func()
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = threading.Thread(target=_serve_spawns, name="redis-spawner", daemon=True)
            _spawner.start()
    future: concurrent.futures.Future[object] = concurrent.futures.Future()
    _spawn_queue.put((func, future))
    return future.result()  # type: ignore[return-value]


def _serve_spawns() -> None:
    while True:
        func, future = _spawn_queue.get()
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)
