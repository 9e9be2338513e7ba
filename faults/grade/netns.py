"""A network namespace per run, so submissions that hard-code ``localhost:6379`` can be
graded side by side: each run has a loopback of its own and the port is always free.

Creating one needs root (``ip netns add``). The grader itself stays outside and talks to
the run's Redis over a Unix socket, which a network namespace does not hide.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

from faults.grade.options import GradeError


def available() -> bool:
    """Root and the ``ip`` tool: what :class:`NetNs` needs."""
    return os.geteuid() == 0 and shutil.which("ip") is not None


class NetNs:
    """``ip netns add`` on enter (loopback up), ``ip netns delete`` on close."""

    def __init__(self) -> None:
        self.name = f"wcgrade-{os.getpid()}-{secrets.token_hex(4)}"
        self.created = False

    def create(self) -> None:
        for args in (["netns", "add", self.name], ["-n", self.name, "link", "set", "lo", "up"]):
            done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                self.close()
                raise GradeError(
                    f"cannot set up network namespace {self.name}: {done.stderr.strip()} "
                    "(run as root, or drop --redis-port to use a free port instead)"
                )
            self.created = True

    def prefix(self) -> list[str]:
        """Put before a command to run it inside the namespace (``ip netns exec`` execs,
        so the process keeps the PID the grader tracks)."""
        return ["ip", "netns", "exec", self.name]

    def close(self) -> None:
        if self.created:
            subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, check=False)
            self.created = False
