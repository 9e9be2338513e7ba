"""Fault decisions for a dataflow run, and the record of every crash-point arrival.

The word count's controller serves this nemesis as it serves its own (same protocol:
``arrive`` answers an agent, ``exited`` learns of a process' end). Every arrival goes into
the history, which is how the checker sees which tasks were executed, when, and by whom.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from engine.errors import NodeError
from engine.nodes.base import RedisNode
from faults.agent import CRASH_EXIT_CODE
from faults.flow.scenario import FlowFault
from faults.history import History

NEMESIS = "nemesis"
DATA_LOSS = ("redis-kill", "redis-wipe")


class FlowNemesis:
    def __init__(self, faults: tuple[FlowFault, ...], node: RedisNode, history: History) -> None:
        self.faults = faults
        self.node = node
        self.history = history
        self.fired: list[FlowFault] = []
        self.errors: list[str] = []
        self.pids: set[int] = set()
        self.hung: set[int] = set()
        self.faulted: set[int] = set()
        self._arrivals = [0] * len(faults)
        self._lock = threading.Lock()
        self._redis_lock = threading.Lock()
        self._quiet = False

    @property
    def data_lost(self) -> bool:
        """Whether Redis may have lost acknowledged work (a kill or a wipe fired)."""
        return any(f.action.kind in DATA_LOSS for f in self.fired)

    def _due(self, point: str, context: dict[str, Any]) -> list[FlowFault]:
        due = []
        for i, fault in enumerate(self.faults):
            if fault.point != point or self._quiet:
                continue
            if fault.stage is not None and context.get("stage") != fault.stage:
                continue
            self._arrivals[i] += 1
            if self._arrivals[i] == fault.nth:
                due.append(fault)
        return due

    def arrive(self, point: str, context: dict[str, Any], pid: int, role: str) -> dict[str, Any]:
        with self._lock:
            self.pids.add(pid)
            self.history.add("ok", f"{role}-{pid}", point, dict(context))
            due = self._due(point, context)
            for fault in due:
                self.fired.append(fault)
                self.history.add("info", NEMESIS, "fault", {"fault": str(fault), "pid": pid})
        reply: dict[str, Any] = {"do": "continue"}
        for fault in due:
            action = fault.action
            if action.on_redis:
                self._harm_redis(fault)
            elif reply["do"] == "continue":
                if action.kind in ("crash", "raise"):
                    self.faulted.add(pid)
                if action.kind == "hang":
                    self.hung.add(pid)
                reply = {"do": action.kind, "ms": action.ms, "code": CRASH_EXIT_CODE}
        return reply

    def _harm_redis(self, fault: FlowFault) -> None:
        action = fault.action
        with self._redis_lock:
            try:
                if action.kind in DATA_LOSS:
                    wipe = action.kind == "redis-wipe"
                    self.node.restart(wipe=wipe, downtime_s=action.ms / 1000)
                elif action.kind == "redis-pause":
                    self.node.pause()
                    try:
                        time.sleep(action.ms / 1000)
                    finally:
                        self.node.resume()
                else:
                    self.node.bgsave()
            except (NodeError, OSError) as exc:
                self.errors.append(f"{fault} failed: {type(exc).__name__}: {exc}")
            self.history.add("ok", NEMESIS, action.kind, {"fault": str(fault)})

    def exited(self, pid: int, role: str) -> None:
        with self._lock:
            self.history.add("info", f"{role}-{pid}", "exit", {"pid": pid})

    def quiesce(self) -> None:
        with self._lock:
            self._quiet = True
        with self._redis_lock:
            pass
