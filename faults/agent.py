"""The crash-point hook that runs inside engine processes (driver and workers).

The runner starts the driver with ``WORDCOUNT_CRASH_HOOK=faults.agent:install`` and
:data:`CONTROLLER_ENV` set to the controller's Unix socket; workers inherit both. At each
crash point the hook sends one JSON line (point, context, pid, role) and blocks until the
controller answers what to do (a verb of :data:`VERBS`: continue, crash, raise, hang or
slow). Blocking is the point:
it lets the controller kill or pause Redis *while* the process stands at that exact line.

Only the standard library is imported, and only points listed in :data:`POINTS_ENV` are
reported, so a worker pays one round trip on a local socket per reported point and nothing
at the others. Without :data:`CONTROLLER_ENV`, :func:`install` returns ``None`` and the
engine pays nothing at all.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

CONTROLLER_ENV = "WORDCOUNT_FAULTS_CONTROLLER"
"""Path of the controller's Unix socket."""
POINTS_ENV = "WORDCOUNT_FAULTS_POINTS"
"""Comma-separated crash points to report; the others are skipped without a round trip."""
HOOK_SPEC = "faults.agent:install"
"""Value of ``WORDCOUNT_CRASH_HOOK`` that installs this agent."""
CRASH_EXIT_CODE = 86
"""Exit status of a process crashed on purpose (``os._exit``: no cleanup, no flush)."""


class InjectedFault(Exception):
    """Raised inside an engine process by the ``raise`` action. Deliberately not a
    ``WordCountError``: it stands for a bug the engine did not plan for."""


class Agent:
    """One process' connection to the controller, opened at the first reported point."""

    def __init__(self, path: str, points: frozenset[str]) -> None:
        self.path = path
        self.points = points
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def reach(self, point: str, context: dict[str, Any]) -> None:
        """The hook: report the point and do what the controller says."""
        if point not in self.points:
            return
        role = "driver" if point.startswith("driver.") else "worker"  # map./reduce.: workers
        message = {"point": point, "ctx": context, "pid": self.pid, "role": role}
        with self._lock:
            reply = self._ask(json.dumps(message, default=str).encode() + b"\n")
        if reply is not None:
            act(point, reply)

    def _ask(self, line: bytes) -> dict[str, Any] | None:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.connect(self.path)
                self._reader = self._sock.makefile("rb")
            self._sock.sendall(line)
            answer = self._reader.readline()
            if not answer:
                raise ConnectionError("the controller closed the connection")
            reply: dict[str, Any] = json.loads(answer)
            return reply
        except (OSError, ValueError) as exc:
            # Fail open: a run whose controller is gone is being torn down; a worker that
            # stopped here would only hide that. Report once, then stop reporting.
            print(
                f"faults.agent: controller at {self.path} unreachable ({exc}); "
                "continuing without faults",
                file=sys.stderr,
            )
            self.points = frozenset()
            return None

    def close(self) -> None:
        """Drop the connection (the controller sees it as this process' end)."""
        for handle in (self._reader, self._sock):
            if handle is not None:
                handle.close()
        self._reader = self._sock = None


QUIT_POINT = "worker.quit"
"""Pseudo crash point a worker reports as its interpreter exits on its own (normally or by
an uncaught exception; a crash by ``os._exit`` or a kill by signal says nothing): the
checker asks that no worker quit while the job is unfinished."""


def farewell(agent: Agent) -> None:
    """Report :data:`QUIT_POINT` from a worker process, on its connection, never failing.

    Registered with ``atexit``: the controller may already be gone (the run is over), so
    errors are swallowed and the wait for the answer is short.
    """
    if sys.argv[1:2] != ["worker"]:
        return
    message = {"point": QUIT_POINT, "ctx": {}, "pid": agent.pid, "role": "worker"}
    with agent._lock:
        try:
            if agent._sock is None:
                agent._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                agent._sock.settimeout(1.0)
                agent._sock.connect(agent.path)
                agent._reader = agent._sock.makefile("rb")
            agent._sock.settimeout(1.0)
            agent._sock.sendall(json.dumps(message).encode() + b"\n")
            agent._reader.readline()
        except (OSError, ValueError):
            pass


def _crash(point: str, reply: dict[str, Any]) -> None:
    os._exit(int(reply.get("code", CRASH_EXIT_CODE)))


def _raise(point: str, reply: dict[str, Any]) -> None:
    raise InjectedFault(f"fault injected at {point}")


def _slow(point: str, reply: dict[str, Any]) -> None:
    time.sleep(int(reply.get("ms", 0)) / 1000)


def _hang(point: str, reply: dict[str, Any]) -> None:
    while True:  # a straggler: alive, holding its task, until someone kills it
        time.sleep(3600)


VERBS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "continue": lambda point, reply: None,
    "crash": _crash,
    "raise": _raise,
    "slow": _slow,
    "hang": _hang,
}
"""What the agent can do in its process, by the verb of the controller's answer. The
fault kinds (:mod:`faults.kinds`) that act inside the process name one of these."""


def act(point: str, reply: dict[str, Any]) -> None:
    """Carry out one controller answer in this process."""
    verb = reply.get("do", "continue")
    handler = VERBS.get(verb)
    if handler is None:
        raise InjectedFault(f"the controller sent an unknown action {verb!r} at {point}")
    handler(point, reply)


def install() -> Callable[[str, dict[str, Any]], None] | None:
    """Hook factory for ``WORDCOUNT_CRASH_HOOK``: an agent if a controller is named."""
    path = os.environ.get(CONTROLLER_ENV)
    if not path:
        return None
    points = frozenset(p for p in os.environ.get(POINTS_ENV, "").split(",") if p)
    agent = Agent(path, points)
    atexit.register(farewell, agent)
    return agent.reach
