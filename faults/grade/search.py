"""The properties: a fault-free baseline, then Hypothesis per property, with shrinking.

Hypothesis draws the runs (``--profile``: ci 15 examples per property, derandomized; dev
40; thorough 2,000), and shrinks a failure toward fewer faults, files, words and workers.
Real processes are slow and racy, so the grader keeps its own record: every failing run
is remembered, the simplest one is reported, and shrinking stops after ``shrink_s``
seconds (later candidates are answered from the record: failures seen fail again, others
pass), so a hang that takes seconds per run cannot make shrinking last for ever.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import hypothesis
from hypothesis import HealthCheck

from faults import profiles
from faults.grade import draw
from faults.grade.judge import Verdict, judge
from faults.grade.options import GradeError, GradeOptions
from faults.grade.run import RunResult, run_example
from faults.grade.schedule import Example

PROPERTIES = {
    "worker-crash": "worker crashes",
    "straggler": "stragglers and stealing",
    "redis": "Redis crash and restart",
    "bootstrap": "crash mid-bootstrap",
    "termination": "termination",
}
BASELINE = Example("baseline", ("one two two\nthree", "two three\nfour", "four five"), 2)


@dataclasses.dataclass
class PropertyResult:
    prop: str
    examples: int = 0
    seconds: float = 0.0
    first_failure_s: float | None = None
    first_failure_examples: int | None = None
    failure: tuple[RunResult, Verdict] | None = None
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.skipped


class _Search:
    """One property's search state: the record of failures and the shrink budget."""

    def __init__(
        self, prop: str, run: Callable[[Example], tuple[RunResult, Verdict]], shrink_s: float
    ) -> None:
        self.result = PropertyResult(prop)
        self.run = run
        self.shrink_s = shrink_s
        self.start = time.monotonic()
        self.failed: dict[str, tuple[RunResult, Verdict]] = {}
        self.error: GradeError | None = None
        self.interrupted: BaseException | None = None

    def test(self, example: Example) -> None:
        key = json.dumps(example.to_data(), sort_keys=True)
        if key in self.failed:
            raise AssertionError(self.failed[key][1].detail)
        if self.interrupted is not None:
            raise self.interrupted
        out_of_time = self.result.first_failure_s is not None and (
            time.monotonic() - self.start - self.result.first_failure_s > self.shrink_s
        )
        if out_of_time or self.error is not None:
            return
        self.result.examples += 1
        try:
            result, verdict = self.run(example)
        except GradeError as exc:
            self.error = exc
            return
        except (KeyboardInterrupt, SystemExit) as exc:  # Hypothesis must not swallow these
            self.interrupted = exc
            raise
        if verdict.ok:
            return
        self.failed[key] = (result, verdict)
        if self.result.first_failure_s is None:
            self.result.first_failure_s = time.monotonic() - self.start
            self.result.first_failure_examples = self.result.examples
        best = self.result.failure
        if best is None or example.size() < best[0].example.size():
            self.result.failure = (result, verdict)
        raise AssertionError(verdict.detail)


def check_property(
    prop: str,
    points: draw.Points,
    options: GradeOptions,
    run: Callable[[Example], tuple[RunResult, Verdict]],
    shrink_s: float,
) -> PropertyResult:
    search = _Search(prop, run, shrink_s)
    settings = hypothesis.settings(
        profiles.get(options.profile),
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )

    @hypothesis.settings(settings)
    @hypothesis.given(draw.strategy(prop, points, options.claim_timeout_ms))
    def body(example: Example) -> None:
        search.test(example)

    with contextlib.suppress(Exception):  # the failure is in the record, flaky or not
        body()
    if search.interrupted is not None:
        raise search.interrupted
    if search.error is not None:
        raise search.error
    search.result.seconds = time.monotonic() - search.start
    return search.result


def runner(
    submission: Path, options: GradeOptions
) -> Callable[[Example], tuple[RunResult, Verdict]]:
    def run(example: Example) -> tuple[RunResult, Verdict]:
        result = run_example(submission, options, example)
        return result, judge(result, options)

    return run
