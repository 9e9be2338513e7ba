"""Does the suite have teeth? Run the main property against an engine until it fails.

:func:`hunt` runs :func:`faults.property.holds` under Hypothesis, with the strategies of
``tests/test_property.py`` (the families of :func:`faults.families.families`, one after
the other until one fails) and the settings of a profile, against one engine, and
returns a :class:`Hunt`: whether the property failed, after how many examples and seconds,
and the (shrunk) failing
scenario. ``benchmarks/teeth.py`` prints that for every known-buggy engine of
:mod:`faults.buggy` and the real one; ``tests/test_teeth.py`` asserts each buggy one fails.

A catch is an ``invalid`` verdict, never an ``unknown`` one: a run that could not be judged
(a timeout on a loaded machine, Redis that would not come back) says nothing about the
engine, so the hunt lists it in :attr:`Hunt.unknowns` and goes on.

Real runs are not deterministic, so each scenario is run at most once: a scenario seen
failing fails again from memory (Hypothesis replays its final example, and a passing
replay would be reported as flaky), and once ``shrink_s`` has passed since the first
failure, new scenarios pass without running, which ends shrinking at the smallest
failure found so far.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from hypothesis import Phase, given, seed, settings

from faults import scenario_json
from faults.families import families
from faults.profiles import get as get_profile
from faults.property import ScenarioFailed, holds
from faults.scenario import Scenario

FAMILIES = ("any-faults", "redis-faults", "worker-faults")
"""The main property is three tests, one per family: a hunt tries them in this order, each
with the profile's examples, until one fails."""
GENERATE = (Phase.explicit, Phase.generate)
"""Phases without shrinking: stop at the first failure (what CI needs)."""


@dataclasses.dataclass
class Hunt:
    """What one hunt found; times in seconds since it began."""

    engine: str | None
    caught: bool = False
    examples: int = 0
    """Examples run up to and including the first failure (all of them if none failed)."""
    first_failure_s: float | None = None
    total_s: float = 0.0
    shrunk: Scenario | None = None
    failure: ScenarioFailed | None = None
    error: str | None = None
    """An exception other than the property's failure (a bug of the harness)."""
    unknowns: list[ScenarioFailed] = dataclasses.field(default_factory=list)
    """Scenarios judged ``unknown``: not catches; listed apart, with their causes."""

    @property
    def problems(self) -> tuple[str, ...]:
        return self.failure.verdict.problems if self.failure else ()


class _Hunter:
    """The property, with call counting, a memory of failures and a shrink budget."""

    def __init__(self, engine: str | None, backend: str, label: str, shrink_s: float):
        self.engine, self.backend, self.label = engine, backend, label
        self.shrink_s = shrink_s
        self.result = Hunt(engine)
        self.started = time.monotonic()
        self.failed: dict[str, ScenarioFailed] = {}

    def __call__(self, scenario: Scenario) -> None:
        key = scenario_json.dump(scenario)
        if key in self.failed:
            raise self.failed[key]
        first = self.result.first_failure_s
        if first is not None and self.elapsed() - first > self.shrink_s:
            return  # out of shrinking time: no smaller failure will be found
        if first is None:
            self.result.examples += 1
        try:
            holds(scenario, self.backend, engine=self.engine, label=self.label)
        except ScenarioFailed as exc:
            if exc.verdict.status != "invalid":
                self.result.unknowns.append(exc)
                return  # not judged, so not caught: the hunt goes on
            self.failed[key] = exc
            self.result.failure = exc
            if first is None:
                self.result.first_failure_s = self.elapsed()
            raise

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def hunt_settings(profile: str, *, shrink: bool, examples_factor: int = 1) -> settings:
    """The profile's settings for a hunt: no example database (every hunt starts afresh,
    so the counts mean something), one bug is enough, and shrinking only if asked;
    ``examples_factor`` times the profile's examples per family."""
    base = get_profile(profile)
    phases = (*GENERATE, Phase.shrink) if shrink else GENERATE
    return settings(base, database=None, report_multiple_bugs=False, phases=phases,
                    max_examples=base.max_examples * examples_factor)  # fmt: skip


def hunt(
    engine: str | None,
    backend: str,
    *,
    profile: str = "ci",
    shrink: bool = True,
    shrink_s: float = 120.0,
    label: str = "teeth",
    examples_factor: int = 1,
    draw_seed: int | None = None,
) -> Hunt:
    """Run the main property against ``engine`` (``module:factory``; ``None``: the real one).

    ``draw_seed`` replaces the derandomized ``ci`` draws (the same ones on every run, until
    the strategies change) by those of that seed: how a hunt would fare after a change."""
    hunter = _Hunter(engine, backend, label, shrink_s)
    result = hunter.result
    use = hunt_settings(profile, shrink=shrink, examples_factor=examples_factor)
    for family in FAMILIES:
        _hunt_family(hunter, family, use, draw_seed)
        if result.failure is not None or result.error is not None:
            break
    result.total_s = hunter.elapsed()
    result.caught = result.failure is not None
    if result.failure is not None:
        result.shrunk = result.failure.outcome.scenario
    return result


def _hunt_family(hunter: _Hunter, family: str, use: settings, draw_seed: int | None) -> None:
    @use
    @given(scenario=families()[family])
    def main_property(scenario: Scenario) -> None:
        hunter(scenario)

    if draw_seed is not None:  # an explicit seed wins over derandomize
        main_property = seed(draw_seed)(main_property)
    result = hunter.result
    try:
        main_property()
    except ScenarioFailed as exc:
        result.failure = exc
    except Exception as exc:  # Hypothesis' own verdicts (flaky, ...) included
        result.error = f"{type(exc).__name__}: {exc}"
        _from_group(result, exc)


def _from_group(result: Hunt, exc: BaseException) -> None:
    """Find the property's failure inside an exception group Hypothesis may raise."""
    inner: Any = getattr(exc, "exceptions", ())
    for sub in inner:
        if isinstance(sub, ScenarioFailed):
            result.failure = sub
            return
    if inner:  # say what failed, not only that it did (Flaky's message does not)
        result.error = f"{result.error} [{'; '.join(f'{type(e).__name__}: {e}' for e in inner)}]"
