"""A Redis Sentinel run as a local ``redis-server --sentinel`` child process.

Sentinel insists on a writable configuration file (it records what it learns there), so
each Sentinel gets a private directory holding a 0600 file with the ``monitor`` line and
the data nodes' password (``auth-pass``): the password never appears on a command line.
The Sentinels themselves take no password; they listen on loopback only.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from engine.errors import NodeError
from engine.nodes.common import free_port, remove_tree, tail
from engine.nodes.process import _spawn, require_redis_server

READY_TIMEOUT_S = 10.0


class SentinelProcess:
    """One Sentinel watching one master name."""

    def __init__(
        self,
        *,
        master_name: str,
        master_host: str,
        master_port: int,
        password: str,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 4000,
        host: str = "127.0.0.1",
        binary: str | None = None,
    ) -> None:
        self.binary = require_redis_server(binary)
        self.host = host
        self.port = free_port(host)
        self.dir = Path(tempfile.mkdtemp(prefix="wordcount-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.log_path = self.dir / "sentinel.log"
        self._proc: subprocess.Popen[bytes] | None = None
        lines = [
            f"port {self.port}",
            f"bind {host}",
            f"dir {self.dir}",
            "protected-mode no",
            'logfile ""',
            f"sentinel monitor {master_name} {master_host} {master_port} {quorum}",
            f"sentinel auth-pass {master_name} {password}",
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
            f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
            f"sentinel parallel-syncs {master_name} 2",
        ]
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as conf:
            conf.write("\n".join(lines) + "\n")

    def __repr__(self) -> str:
        return f"SentinelProcess(port={self.port})"

    def client(self, timeout_s: float = 1.0) -> redis.Redis:
        return redis.Redis(
            host=self.host, port=self.port, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )  # fmt: skip

    def start(self) -> None:
        """Start (keeping what Sentinel wrote to its file) and wait until it answers PING."""
        if self.is_running():
            return
        with open(self.log_path, "ab") as log:
            self._proc = _spawn([self.binary, str(self.conf), "--sentinel"], log, self.dir)
        probe = self.client()
        deadline = time.monotonic() + READY_TIMEOUT_S
        try:
            while True:
                if not self.is_running():
                    raise NodeError(f"Sentinel exited at start. {self._log_tail()}")
                try:
                    probe.ping()
                    return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise NodeError(f"Sentinel did not answer PING. {self._log_tail()}")
                time.sleep(0.02)
        finally:
            probe.close()

    def _log_tail(self) -> str:
        try:
            return f"Its log {self.log_path} ends with:\n{tail(self.log_path.read_text())}"
        except OSError:
            return ""

    def kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        self.kill()
        if self.dir.exists():
            remove_tree(self.dir)
