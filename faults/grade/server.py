"""The run's own Redis: a ``redis-server`` the grader can crash, restart and pause.

It listens on TCP for the submission (on a free port, or the port the submission
hard-codes, inside the run's network namespace) and on a Unix socket for the grader. It
keeps an append-only file fsynced on every write, so a SIGKILL loses nothing that was
acknowledged and a restart comes back on the same port with the same password, data and
functions (the labs' promise); ``--load-function`` is loaded again after each restart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import redis

from engine.errors import NodeError
from engine.nodes.base import Persistence
from engine.nodes.common import clear_dir, server_args, wait_ready
from engine.nodes.process import require_redis_server
from faults.grade.options import GradeError


class GradeRedis:
    """One ``redis-server`` process for one run."""

    def __init__(
        self, run_dir: Path, port: int, password: str, prefix: list[str], function: str | None
    ) -> None:
        self.port = port
        self.password = password
        self.prefix = prefix
        self.function = function
        self.data_dir = run_dir / "redis"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket = str(run_dir / "redis.sock")
        self.log = run_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def args(self) -> list[str]:
        """The command line, without the password: that goes in through stdin (``-``), so
        ``ps`` never shows it."""
        args = server_args(
            config="-",
            port=self.port,
            bind="127.0.0.1 -::1",
            data_dir=str(self.data_dir),
            persistence=Persistence("aof-always"),
        )
        return [
            *self.prefix,
            require_redis_server(),
            *args,
            "--unixsocket",
            self.socket,
            "--unixsocketperm",
            "700",
        ]

    def client(self, timeout_s: float = 5.0) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=self.socket, password=self.password, socket_timeout=timeout_s
        )

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.args(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
        proc = self.proc
        assert proc.stdin is not None
        proc.stdin.write(f'requirepass "{self.password}"\n'.encode())
        proc.stdin.close()
        try:
            wait_ready(self.client(), alive=lambda: proc.poll() is None, describe=self._describe)
        except NodeError as exc:
            raise GradeError(f"the grader's Redis did not start: {exc}") from None
        if self.function:
            try:
                self.client().function_load(self.function, replace=True)
            except redis.ResponseError as exc:
                raise GradeError(f"--load-function: Redis refused the library: {exc}") from None

    def _describe(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-600:]
        except OSError:
            return ""

    def traffic(self) -> tuple[int, int]:
        """(commands processed, NOAUTH and WRONGPASS errors) since the last start; (0, 0)
        if the server does not answer. The count includes this call's AUTH, not its INFO."""
        try:
            stats = self.client(timeout_s=2).info("all")
        except (redis.RedisError, OSError):
            return 0, 0
        auth = sum(
            int(stats.get(f"errorstat_{name}", {}).get("count", 0))
            for name in ("NOAUTH", "WRONGPASS")
        )
        return int(stats.get("total_commands_processed", 0)), auth

    def kill(self) -> None:
        """SIGKILL, as a crash would (no save, no goodbye to clients)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def restart(self, downtime_s: float, *, wipe: bool = False) -> dict[str, object]:
        """Kill, stay down ``downtime_s``, come back from the append-only file (or empty,
        with ``wipe``: a server that lost its disk)."""
        with self.lock:
            self.kill()
            if wipe:
                clear_dir(self.data_dir)
            time.sleep(downtime_s)
            self.start()
            return {"downtime_ms": round(downtime_s * 1000)}

    def pause(self, seconds: float) -> dict[str, object]:
        """Freeze the server (SIGSTOP) and thaw it ``seconds`` later, from a timer."""
        if self.proc is None:
            return {}
        pid = self.proc.pid
        os.kill(pid, signal.SIGSTOP)
        timer = threading.Timer(seconds, lambda: _signal(pid, signal.SIGCONT))
        timer.daemon = True
        timer.start()
        return {"paused_ms": round(seconds * 1000)}

    def close(self) -> None:
        self.kill()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
