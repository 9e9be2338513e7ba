"""The grader's nemesis: names each protocol point the shim reports and fires faults there.

The controller (:mod:`faults.controller`) hands every arrival here, from one thread per
submission process; the process waits for the answer, so a Redis restart is over before
it goes on, and a SIGKILL or SIGSTOP lands while it stands at that exact command. Every
arrival also becomes an operation of the run's history (``invoke`` before a command,
``ok`` or ``fail`` after it), which the report reads to tell what a worker was doing.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from typing import Any

from faults.grade.schedule import WORKER_COMMANDS, Example, Fault
from faults.grade.server import GradeRedis, _signal
from faults.history import History


@dataclasses.dataclass(frozen=True)
class Fired:
    """A fault that fired, with what the process had just seen (for the report)."""

    fault: Fault
    pid: int
    context: dict[str, Any]
    time: float


class PointNemesis:
    """Protocol points and faults of one run (the object a Controller serves)."""

    def __init__(self, example: Example, server: GradeRedis, history: History) -> None:
        self.faults = example.faults
        self.server = server
        self.history = history
        self.roots: set[int] = set()
        self.labels: dict[int, str] = {}
        self.workers = 0
        self.fired: list[Fired] = []
        self.crashed_client = False
        self.errors: list[str] = []
        self.last_fault_end = 0.0
        """Monotonic time at which the last fault's effect ended (a stall, a restart)."""
        self._done = [False] * len(self.faults)
        self._lock = threading.Lock()

    def label(self, pid: int, command: str) -> str:
        if pid in self.roots:
            return "client"
        if pid not in self.labels and command in WORKER_COMMANDS:
            self.workers += 1
            self.labels[pid] = f"worker#{self.workers}"
        return self.labels.get(pid, f"process-{pid}")

    def arrive(self, point: str, context: dict[str, Any], pid: int, role: str) -> dict[str, Any]:
        phase, _, command = point.partition(":")
        with self._lock:
            label = self.label(pid, command)
            key = f"{label}.{point}#{context.get('n', 0)}"
            kind = "invoke" if phase == "before" else ("ok" if context.get("ok") else "fail")
            self.history.add(kind, label, command, {"pid": pid, **context})  # type: ignore[arg-type]
            due = [i for i, f in enumerate(self.faults) if not self._done[i] and f.at == key]
            for i in due:
                self._done[i] = True
        reply: dict[str, Any] = {"do": "continue"}
        for i in due:
            fault = self.faults[i]
            self.history.add("info", "nemesis", "fault", {"fault": str(fault), "pid": pid})
            self.fired.append(Fired(fault, pid, dict(context), self.history.now()))
            reply = self._do(fault, pid, label) or reply
        return reply

    def _do(self, fault: Fault, pid: int, label: str) -> dict[str, Any] | None:
        seconds = fault.ms / 1000
        self._ended(time.monotonic())
        try:
            if fault.do == "crash":
                self.crashed_client |= label == "client"
                os.kill(pid, signal.SIGKILL)
            elif fault.do == "stall":
                os.kill(pid, signal.SIGSTOP)
                timer = threading.Timer(seconds, lambda: _signal(pid, signal.SIGCONT))
                timer.daemon = True
                timer.start()
            elif fault.do in ("slow", "hang"):
                return {"do": fault.do, "ms": fault.ms}
            elif fault.do in ("redis-restart", "redis-wipe"):
                self.server.restart(seconds, wipe=fault.do == "redis-wipe")
            elif fault.do == "redis-pause":
                self.server.pause(seconds)
        except Exception as exc:  # a fault that could not be done is reported, not raised
            self.errors.append(f"{fault} failed: {type(exc).__name__}: {exc}")
        restarted = fault.do in ("redis-restart", "redis-wipe")
        self._ended(time.monotonic() + (0 if restarted else seconds))
        return None

    def _ended(self, when: float) -> None:
        with self._lock:
            self.last_fault_end = max(self.last_fault_end, when)

    def timed(self, elapsed_s: float, children: list[int]) -> None:
        """Fire the time-based faults that are due, on the command's n-th child process
        (children the grader has not seen yet cannot be hit: the fault waits for them)."""
        for i, fault in enumerate(self.faults):
            when = fault.timed
            if when is None or self._done[i] or elapsed_s * 1000 < when[1]:
                continue
            if len(children) < when[0]:
                continue
            self._done[i] = True
            pid = children[when[0] - 1]
            self.history.add("info", "nemesis", "fault", {"fault": str(fault), "pid": pid})
            self.fired.append(Fired(fault, pid, {}, self.history.now()))
            self._do(fault, pid, self.name_of(pid))

    def name_of(self, pid: int) -> str:
        """``client``, ``worker#N`` or ``process-PID`` (one that sent no consumer command)."""
        return self.labels.get(pid, "client" if pid in self.roots else f"process-{pid}")

    def exited(self, pid: int, role: str) -> None:
        with self._lock:
            label = self.name_of(pid)
            self.history.add("info", label, "exit", {"pid": pid})
