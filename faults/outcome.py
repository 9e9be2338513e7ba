"""What a run returns: data for the checker and for people, never a printout.

An :class:`Outcome` holds the final state of the job in Redis, the history, the faults
that fired, the samples taken while the job ran, and the timings. ``error`` says why the
run could not be completed (a timeout, Redis that would not come back): the checker then
answers ``unknown``. ``driver_failure`` says the driver gave up on its own (it exited
with an error no injected fault explains): a liveness failure of the engine.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from faults.db import FinalState, Sample
from faults.history import History
from faults.nemesis import FiredFault
from faults.scenario import Scenario


@dataclasses.dataclass(frozen=True)
class DriverRun:
    """One incarnation of the driver (times in seconds since the run started)."""

    pid: int
    started: float
    ended: float | None
    exit_code: int | None


@dataclasses.dataclass
class Outcome:
    scenario: Scenario
    backend: str
    job_id: str
    history: History
    final: FinalState | None = None
    fired: list[FiredFault] = dataclasses.field(default_factory=list)
    samples: list[Sample] = dataclasses.field(default_factory=list)
    drivers: list[DriverRun] = dataclasses.field(default_factory=list)
    error: str | None = None
    driver_failure: str | None = None
    stalled: str | None = None
    """Why the runner stopped a job that had not finished ``liveness_s`` after the last
    fault and showed no sign of progress: a liveness failure, judged without waiting for
    the whole ``timeout_s``."""
    load_factor: float = 1.0
    """How much the liveness and timeout bounds were stretched for the machine's load
    (faults/loadgauge.py): 1 on a quiet machine."""
    finished_at: float | None = None
    """When the job was first seen finished (a sample, or the driver's clean exit)."""
    duration_s: float = 0.0
    setup_s: float = 0.0
    log_tail: str = ""
    marker: str = ""
    """The controller's socket path: in the environment of every engine process of the
    run (as ``WORDCOUNT_FAULTS_CONTROLLER``), so leftovers can be found."""
    reached: Counter[str] = dataclasses.field(default_factory=Counter)
    """Arrivals per crash point (including those no fault targeted)."""
    problems: list[str] = dataclasses.field(default_factory=list)
    """Notes from the run that do not decide the verdict (controller hiccups, leftovers)."""
    delivered: dict[str, int] | None = None
    """The counts the driver last delivered to the user (its ``--output``), if any: what
    is judged when Redis lost the job after it finished."""

    @property
    def quiet_at(self) -> float:
        """When the last fault's effect ended (or the first driver started, if none fired)."""
        ends = [f.end for f in self.fired]
        if ends:
            return max(ends)
        return self.drivers[0].started if self.drivers else 0.0

    def not_fired(self) -> list[str]:
        """The scenario's faults whose trigger never came (a replay that took another path)."""
        fired = {f.index for f in self.fired}
        return [str(f) for i, f in enumerate(self.scenario.faults) if i not in fired]

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest: what fired, timings, how the job ended."""
        job = self.final.job if self.final else None
        return {
            "scenario": self.scenario.name,
            "backend": self.backend,
            "job": self.job_id,
            "state": None if job is None else job.get("state"),
            "fired": [f.to_data() for f in self.fired],
            "not_fired": self.not_fired(),
            "drivers": [dataclasses.asdict(d) for d in self.drivers],
            "error": self.error,
            "driver_failure": self.driver_failure,
            "stalled": self.stalled,
            "duration_s": round(self.duration_s, 3),
            "setup_s": round(self.setup_s, 3),
            "finished_at": self.finished_at,
            "load_factor": self.load_factor,
            "reached": dict(self.reached),
            "samples": len(self.samples),
            "ops": len(self.history),
        }
