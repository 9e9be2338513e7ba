"""How busy the machine was during a run: the scale of its liveness margins.

A scenario's ``liveness_s`` says how long after its last fault a correct engine must have
finished. It is sized for a machine whose cores are shared by at most about two runnable
processes each; on a shared CI host or a laptop running other jobs, every process of the
run gets a smaller share of a core, and a correct job can take several times longer. A
bound that ignores this turns machine load into INVALID verdicts; one that is simply made
huge stops catching stalls quickly on a quiet machine. So the runner reads the load
average while the job runs, and the runner's stall rule, its timeout and the checker's
liveness rule multiply their bounds by how far the busiest reading went past two runnable
processes per core (1 on a quiet machine, never less). The factor is recorded in the
outcome, so a replay on a quiet machine judges with its own.
"""

from __future__ import annotations

import os
import time

PER_CORE = 2.0
"""Runnable processes per core that the unscaled bounds already allow for."""
MAX_FACTOR = 20.0
"""A cap, so that a runaway reading cannot make a stall undetectable."""
EVERY_S = 1.0


class LoadGauge:
    """The load average, read at most once a second, and the factor it gives."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = max(1, cores or os.cpu_count() or 1)
        self.peak = 0.0
        self._next = 0.0

    def sample(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + EVERY_S
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform: judge as if quiet
            return
        self.peak = max(self.peak, load)

    @property
    def factor(self) -> float:
        return scale(self.peak, self.cores)


def scale(load: float, cores: int) -> float:
    """The liveness scale for a load average ``load`` on ``cores`` cores (1 to MAX_FACTOR)."""
    return min(MAX_FACTOR, max(1.0, load / (PER_CORE * max(1, cores))))


def scaled(factor: float) -> str:
    """How a message names a scaled bound: nothing when the machine was quiet."""
    return "" if factor <= 1.0 else f", x{factor:.1f} for the machine's load"
