"""A tally of every scenario run in this process: what the end-of-suite summary reports.

A suite that says "all green" has not said what it exercised. The ledger counts the
scenarios, the faults that fired by kind, the arrivals at each crash point, and the
boundaries each scenario covered (:mod:`faults.coverage`: thresholds crossed, whitespace
characters and invalid byte classes drawn, Redis snapshots and restarts by phase), so the
summary can name the crash points and boundaries that no scenario reached: a point never
reached is a fault never tested. Under ``pytest -n auto`` each xdist worker keeps its own ledger and
sends it to the controller as JSON, which merges them (see :mod:`faults.pytest_summary`).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

from engine import crashpoints as cp
from faults import coverage
from faults.outcome import Outcome
from faults.replication_check import report as replication_report
from faults.thresholds import NOT_DRAWN


@dataclasses.dataclass
class Ledger:
    scenarios: int = 0
    seconds: float = 0.0
    """Summed wall time of the runs (they overlap under xdist)."""
    fired: Counter[str] = dataclasses.field(default_factory=Counter)
    """Faults that fired, by action kind."""
    reached: Counter[str] = dataclasses.field(default_factory=Counter)
    """Arrivals per crash point."""
    verdicts: Counter[str] = dataclasses.field(default_factory=Counter)
    backends: Counter[str] = dataclasses.field(default_factory=Counter)
    covered: Counter[str] = dataclasses.field(default_factory=Counter)
    """Scenarios per coverage label (:data:`faults.coverage.ALL`)."""
    replication: Counter[str] = dataclasses.field(default_factory=Counter)
    """Replicated runs per class (:attr:`ReplicationReport.label`), and ``LABEL
    recomputed``: tasks whose acknowledged commit a failover lost."""

    def add(self, outcome: Outcome) -> None:
        self.scenarios += 1
        self.seconds += outcome.duration_s
        self.backends[outcome.backend] += 1
        for fired in outcome.fired:
            self.fired[fired.kind.summary] += 1
        self.reached.update(outcome.reached)
        replicated = replication_report(outcome)
        if replicated is not None:
            self.replication[replicated.label] += 1
            self.replication[f"{replicated.label} recomputed"] += len(replicated.recomputed)
            self.replication[f"{replicated.label} rolled back"] += replicated.rolled_back
            self.replication[_UNPLANNED] += replicated.unplanned
        try:
            labels = coverage.static_labels(outcome.scenario) | coverage.fired_labels(outcome.fired)
        except Exception as exc:  # never let the tally hide the run's own result or error
            labels = {f"error:{type(exc).__name__}"}
        self.covered.update(labels)

    def judged(self, status: str) -> None:
        """Count a verdict; ``status`` names the engine too when it is not the real one
        (the teeth tests expect ``invalid for faults.buggy:...``)."""
        self.verdicts[status] += 1

    def merge(self, other: Ledger) -> None:
        self.scenarios += other.scenarios
        self.seconds += other.seconds
        for mine, theirs in (
            (self.fired, other.fired),
            (self.reached, other.reached),
            (self.verdicts, other.verdicts),
            (self.backends, other.backends),
            (self.covered, other.covered),
            (self.replication, other.replication),
        ):
            mine.update(theirs)

    def _verdict_line(self) -> str:
        real, others = _split_verdicts(self.verdicts)
        parts = [f"real engine {_counts(real)}"] if real else []
        if others:  # a catch is an invalid verdict; an unknown one judged nothing
            caught = sum(1 for c in others.values() if c["invalid"])
            runs = sum(sum(c.values()) for c in others.values())
            unknown = sum(c["unknown"] for c in others.values())
            also = f", {unknown} unknown (not catches)" if unknown else ""
            parts.append(f"other engines caught {caught} of {len(others)} ({runs} scenarios{also})")
        return "; ".join(parts)

    def to_json(self) -> str:
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return json.dumps({k: dict(v) if isinstance(v, Counter) else v for k, v in data.items()},
                          sort_keys=True)  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Ledger:
        data: dict[str, Any] = json.loads(text)
        return cls(
            scenarios=int(data["scenarios"]),
            seconds=float(data["seconds"]),
            fired=Counter(data["fired"]),
            reached=Counter(data["reached"]),
            verdicts=Counter(data["verdicts"]),
            backends=Counter(data["backends"]),
            covered=Counter(data.get("covered", {})),
            replication=Counter(data.get("replication", {})),
        )

    def unreached(self) -> list[str]:
        """Crash points that no scenario of the run reached."""
        return [point for point in cp.ALL if not self.reached.get(point)]

    def uncovered(self) -> list[str]:
        """Coverage labels that no scenario of the run earned."""
        return [label for label in coverage.ALL if not self.covered.get(label)]

    def coverage_lines(self) -> list[str]:
        """What the scenarios covered, by family of label, and what they never reached."""
        lines = []
        for prefix, title in _FAMILIES:
            labels = [label for label in coverage.ALL if label.startswith(prefix)]
            got = [f"{label[len(prefix):]} {self.covered[label]}" for label in labels
                   if self.covered.get(label)]  # fmt: skip
            missing = [label[len(prefix) :] for label in labels if not self.covered.get(label)]
            line = f"{title}: {len(got)} of {len(labels)}" + (f" ({', '.join(got)})" if got else "")
            if missing:
                line += "; NEVER reached: " + ", ".join(_why(prefix, m) for m in missing)
            lines.append(line)
        errors = {k: n for k, n in self.covered.items() if k.startswith("error:")}
        if errors:
            lines.append(f"coverage could not be computed for {sum(errors.values())} scenario(s): "
                         + ", ".join(sorted(errors)))  # fmt: skip
        return lines

    def _replication_line(self) -> str:
        """Replicated runs by class, with the tasks their failovers made recomputed."""
        parts = []
        ends = (" recomputed", " rolled back")
        for label in sorted(k for k in self.replication
                            if not k.endswith(ends) and k != _UNPLANNED):  # fmt: skip
            lost, undone = (self.replication[f"{label}{end}"] for end in ends)
            strict = not label.endswith("sync 0") and not label.startswith("freezes")
            must = " (must be 0)" if strict else ""
            parts.append(f"{label}: {self.replication[label]} run(s), {lost} task(s) "
                         f"acknowledged, lost and recomputed{must}, {undone} job(s) rolled "
                         "back after delivery")  # fmt: skip
        found = self.replication[_UNPLANNED]
        unplanned = f"; failovers no fault caused: {found}" if found else ""
        return "replicated groups (faults/replication_check.py): " + "; ".join(parts) + unplanned

    def render(self, wall_s: float) -> list[str]:
        """The summary lines; ``wall_s`` is the test session's wall time."""
        if not self.scenarios:
            return ["no fault-injection scenario ran"]
        per_min = self.scenarios / (wall_s / 60) if wall_s > 0 else 0.0
        mean_s = self.seconds / self.scenarios
        backends = ", ".join(f"{n} on {b}" for b, n in sorted(self.backends.items()))
        lines = [
            f"scenarios run: {self.scenarios} ({backends}) in {wall_s:.0f} s of session wall "
            f"time: {per_min:.1f} scenarios/min; mean scenario {mean_s:.2f} s",
            "faults injected by kind: " + (_counts(self.fired) or "none"),
            "crash points reached: " + ", ".join(f"{p} {self.reached.get(p, 0)}" for p in cp.ALL),
        ]
        if self.verdicts:
            lines.insert(1, "verdicts of the main property: " + self._verdict_line())
        if self.replication:
            lines.append(self._replication_line())
        missing = self.unreached()
        lines.append(
            "UNREACHED crash points (no scenario tested them): " + ", ".join(missing)
            if missing
            else "every crash point was reached"
        )
        return lines + self.coverage_lines()


_FAMILIES = (
    ("threshold:", "engine thresholds crossed (faults/thresholds.py)"),
    ("claim:", "claim timeout at the floor"),
    ("ws:", "whitespace characters drawn"),
    ("bytes:", "non-UTF-8 byte classes drawn"),
    ("phase:", "Redis snapshots/restarts by phase"),
)


_UNPLANNED = "unplanned failovers"
"""The ``replication`` key counting failovers no fault caused (faults/failover_watch.py)."""


def _why(prefix: str, name: str) -> str:
    reason = NOT_DRAWN.get(name) if prefix == "threshold:" else None
    return f"{name} (not drawn: {reason})" if reason else name


def _split_verdicts(verdicts: Counter[str]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """The real engine's verdicts, and each other engine's (keys ``STATUS for ENGINE``)."""
    real: Counter[str] = Counter()
    others: dict[str, Counter[str]] = {}
    for key, n in verdicts.items():
        status, _, engine = key.partition(" for ")
        (others.setdefault(engine, Counter()) if engine else real)[status] += n
    return real, others


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items(), key=lambda kv: -kv[1]))


LEDGER = Ledger()
"""This process' ledger: :func:`faults.runner.run_scenario` adds every run to it."""
