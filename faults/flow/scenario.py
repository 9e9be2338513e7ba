"""A dataflow fault scenario as plain data: program, dataset, workers and faults.

A fault fires at the ``nth`` arrival at one of the ``flow.*`` crash points
(:mod:`engine.flow.points`), counted over the whole run and, with ``stage``, only among
arrivals of that stage. Its action is the word count's (:class:`faults.scenario.Action`):
crash, hang or slow the process there, or kill, wipe, pause or snapshot Redis while it
waits.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from engine.flow import points
from faults.errors import ScenarioError
from faults.scenario import Action

Pair = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class FlowFault:
    point: str
    action: Action
    nth: int = 1
    stage: int | None = None

    def __post_init__(self) -> None:
        if self.point not in points.ALL:
            raise ScenarioError(
                f"unknown flow crash point {self.point!r}: use one of {', '.join(points.ALL)}"
            )
        if self.point in points.DRIVER_POINTS and self.action.kind == "hang":
            raise ScenarioError(f"{self}: a hung driver only ends in the timeout; use crash")
        if self.nth < 1:
            raise ScenarioError(f"{self}: nth counts arrivals from 1")

    @property
    def on_driver(self) -> bool:
        return self.point in points.DRIVER_POINTS

    def __str__(self) -> str:
        stage = "" if self.stage is None else f"@stage{self.stage}"
        ms = f"={self.action.ms}" if self.action.ms else ""
        return f"{self.point}{stage}#{self.nth}:{self.action.kind}{ms}"


@dataclasses.dataclass(frozen=True)
class FlowScenario:
    program: dict[str, Any]
    """The program as JSON data (``input`` is set by the runner)."""
    pairs: tuple[Pair, ...]
    workers: int = 2
    claim_timeout_ms: int = 500
    faults: tuple[FlowFault, ...] = ()
    timeout_s: float = 90.0

    def describe(self) -> str:
        """One JSON line that says everything needed to replay the scenario."""
        return json.dumps(
            {
                "program": self.program,
                "pairs": list(self.pairs),
                "workers": self.workers,
                "claim_timeout_ms": self.claim_timeout_ms,
                "faults": [str(f) for f in self.faults],
            }
        )
