"""The history of a run: every operation as data, in the spirit of Jepsen.

An operation has a ``type`` (``invoke`` when something starts, ``ok`` or ``fail`` when it
completes with a known result, ``info`` when the result is unknown or the event is a plain
observation), the ``process`` that did it (``worker-<pid>``, ``driver-<pid>``,
``nemesis``, ``runner``), a function name ``f`` and a JSON-ready ``value``. Times are
seconds since the run started, from one monotonic clock in the test process, so the order
of the list is the order in which the controller learnt of the events.

The checker reads task life events from here: ``deliver`` and ``claim`` (a task handed to
a worker), ``commit`` (``invoke`` before the atomic commit; ``ok`` when it acknowledged
its tasks, ``fail`` with the reason when refused; ``info`` if the worker died in between),
and the nemesis' Redis restarts, which carry the acknowledged set Redis came back with.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

OpType = Literal["invoke", "ok", "fail", "info"]
OP_TYPES: tuple[OpType, ...] = ("invoke", "ok", "fail", "info")

# Function names the runner, controller and checker agree on.
DELIVER = "deliver"
CLAIM = "claim"
COUNT = "count"
COMMIT = "commit"
EXIT = "exit"
QUIT = "quit"
"""A worker process ending on its own (normally or by an exception), as its last word."""
BOOTSTRAP = "bootstrap"
RESULT = "result"
FAULT = "fault"
DRIVER = "driver"
DEAD_LETTER = "dead-letter"
FINAL = "final"


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation. ``index`` is its position in the history."""

    index: int
    type: OpType
    process: str
    f: str
    value: dict[str, Any]
    time: float

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        value = json.dumps(self.value, ensure_ascii=False, sort_keys=True)
        return f"{self.time:8.3f} {self.process:>14} {self.type:<6} {self.f:<11} {value}"


class History:
    """An append-only, thread-safe list of :class:`Op` (the controller's handler threads,
    the nemesis and the runner all add to it)."""

    def __init__(self, ops: list[Op] | None = None, *, start: float | None = None) -> None:
        self._ops: list[Op] = list(ops or [])
        self._lock = threading.Lock()
        self.start = time.monotonic() if start is None else start

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.start

    def add(self, type: OpType, process: str, f: str, value: dict[str, Any] | None = None) -> Op:
        with self._lock:
            op = Op(len(self._ops), type, process, f, dict(value or {}), round(self.now(), 6))
            self._ops.append(op)
            return op

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self._ops)

    def select(self, f: str | None = None, type: OpType | None = None) -> list[Op]:
        return [
            op for op in self.ops if (f is None or op.f == f) and (type is None or op.type == type)
        ]

    def to_data(self) -> list[dict[str, Any]]:
        return [op.to_data() for op in self.ops]

    @classmethod
    def from_data(cls, data: list[dict[str, Any]]) -> History:
        return cls([Op(**item) for item in data], start=0.0)

    def dumps(self) -> str:
        """One JSON object per line (the form ``faults replay --history`` writes)."""
        return "".join(json.dumps(op.to_data(), ensure_ascii=False) + "\n" for op in self.ops)
