"""``faults soak``: draw scenarios from every family until the time is up, on every core.

A gate is only as good as the rare cases it has seen. The soak runs the main property's
strategies (:func:`faults.families.families`) with random seeds in parallel jobs, one per
core, for as long as asked, prints a line per minute, and ends with a table per fault
kind and per crash point. Every scenario that is not valid is saved with the command that
replays it. Exit 1 on any invalid verdict, 2 on an unknown one it cannot explain (see
:func:`explain_unknown`), else 0. Nightly: ``faults soak --minutes 30``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from faults.hogs import Hogs

LINE_EVERY_S = 60.0


@dataclasses.dataclass(frozen=True)
class Result:
    """One scenario of the soak, as the jobs send it to the parent."""

    job: int
    family: str
    status: str
    explained: str | None
    kinds: tuple[str, ...]
    points: tuple[str, ...]
    seconds: float
    problems: tuple[str, ...]
    replay: str | None


@dataclasses.dataclass(frozen=True)
class Options:
    minutes: float
    backend: str
    engine: str | None
    seed: int
    jobs: int
    load: int


class _TimeUp(Exception):
    """Raised inside the Hypothesis loop once the soak's time is over."""


def explain_unknown(outcome: Any, verdict: Any) -> str | None:
    """Why an unknown verdict is not the engine's doing, or ``None`` if nothing explains it.

    Explained: Redis lost its data after the job had finished (a data-losing fault fired,
    and the driver exited cleanly having seen the job done, so nothing could rebuild it and
    nothing is left to judge). Everything else (a timeout, a nemesis or checker failure, a
    final state that cannot be read) is unexplained: a problem of the engine, the harness
    or the machine.
    """
    if "Redis has no trace of the job at the end" not in " ".join(verdict.problems):
        return None
    clean_exit = any(d.exit_code == 0 for d in outcome.drivers)
    if clean_exit and any(f.kind.loses_data for f in outcome.fired):
        return "Redis lost its data after the job finished (a fault, not the engine)"
    return None


def _job(index: int, options: Options, deadline: float, out: Any) -> None:
    """One soak job: Hypothesis draws from every family, seeded, until the deadline."""
    import hypothesis.strategies as st
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from faults.checker import check
    from faults.families import families_on
    from faults.property import replay_command, save_failure
    from faults.runner import run_scenario

    parent = os.getppid()
    drawn = families_on(options.backend)
    strategy = st.sampled_from(sorted(drawn)).flatmap(
        lambda name: st.tuples(st.just(name), drawn[name])
    )

    @hseed(options.seed * 1000 + index)
    @settings(max_examples=10**6, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)  # fmt: skip
    @given(strategy)
    def soak(pair: tuple[str, Any]) -> None:
        if time.monotonic() > deadline or os.getppid() != parent:  # time, or nobody reads
            raise _TimeUp
        family, scenario = pair
        outcome = run_scenario(scenario, options.backend, engine=options.engine)
        verdict = check(outcome)
        replay = None
        if not verdict.valid:
            path = save_failure(scenario, f"soak-{family}", outcome)
            replay = replay_command(path, outcome.backend, options.engine)
        out.put(Result(
            index, family, verdict.status,
            explain_unknown(outcome, verdict) if verdict.status == "unknown" else None,
            tuple(sorted({f.kind.name for f in outcome.fired})),
            tuple(sorted(p for p, n in outcome.reached.items() if n)),
            outcome.duration_s, verdict.problems[:3], replay,
        ))  # fmt: skip

    try:
        soak()
    except _TimeUp:
        pass
    except BaseException as exc:  # a harness bug: report it, the parent counts it
        if not isinstance(exc, _TimeUp) and "_TimeUp" not in repr(exc):
            out.put(Result(index, "harness", "unknown", None, (), (), 0.0,
                           (f"{type(exc).__name__}: {exc}"[:500],), None))  # fmt: skip
    if os.getppid() != parent:
        # The soak was killed: a full queue with no reader would block this process's exit
        # for ever (a soak's job was found so, holding warm Redis nodes and a fork server).
        out.cancel_join_thread()


class Tally:
    """Verdicts overall, per fault kind that fired, and per crash point reached."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.by_kind: dict[str, Counter[str]] = {}
        self.by_point: dict[str, Counter[str]] = {}

    def add(self, result: Result) -> None:
        self.results.append(result)
        key = _key(result)
        for kind in result.kinds or ("(no fault fired)",):
            self.by_kind.setdefault(kind, Counter())[key] += 1
        for point in result.points:
            self.by_point.setdefault(point, Counter())[key] += 1

    def totals(self) -> Counter[str]:
        return Counter(_key(r) for r in self.results)

    def line(self, elapsed_s: float) -> str:
        t = self.totals()
        rate = len(self.results) / (elapsed_s / 60) if elapsed_s > 0 else 0.0
        return (f"[{elapsed_s / 60:5.1f} min] {len(self.results)} scenarios: {t['valid']} valid, "
                f"{t['invalid']} invalid, {t['unknown'] + t['explained']} unknown "
                f"({t['explained']} explained); {rate:.1f}/min")  # fmt: skip

    def table(self) -> list[str]:
        head = "| {:<28} | {:>9} | {:>5} | {:>7} | {:>7} | {:>9} |"
        rows = [head.format("fault kind / crash point", "scenarios", "valid", "invalid",
                            "unknown", "explained"),
                "|" + "|".join("-" * n for n in (30, 11, 7, 9, 9, 11)) + "|"]  # fmt: skip
        groups = (("total", {"all": self.totals()}), ("kind", self.by_kind),
                  ("point", self.by_point))  # fmt: skip
        for label, group in groups:
            for name, c in sorted(group.items()):
                title = "all scenarios" if label == "total" else f"{label} {name}"
                rows.append(head.format(title[:28], sum(c.values()), c["valid"], c["invalid"],
                                        c["unknown"], c["explained"]))  # fmt: skip
        return rows


def _key(result: Result) -> str:
    return "explained" if result.status == "unknown" and result.explained else result.status


def run_soak(options: Options, emit: Callable[[str], None] = print) -> int:
    """Run the soak and print its lines; returns the exit status (0, 1 or 2)."""
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    started = time.monotonic()
    deadline = started + options.minutes * 60
    emit(f"soak: {options.minutes:g} min, {options.jobs} job(s), backend {options.backend}, "
         f"engine {options.engine or 'the real one'}, seed {options.seed}"
         + (f", {options.load} CPU hog(s)" if options.load else ""))  # fmt: skip
    jobs = [context.Process(target=_job, args=(i, options, deadline, results), daemon=True)
            for i in range(options.jobs)]  # fmt: skip
    tally = Tally()
    with Hogs(options.load):
        for job in jobs:
            job.start()
        _collect(jobs, results, tally, started, emit)
    for line in _final(tally, time.monotonic() - started):
        emit(line)
    totals = tally.totals()
    return 1 if totals["invalid"] else 2 if totals["unknown"] else 0


def _collect(jobs: list[Any], results: Any, tally: Tally, started: float,
             emit: Callable[[str], None]) -> None:  # fmt: skip
    next_line = started + LINE_EVERY_S
    while any(j.is_alive() for j in jobs) or not results.empty():
        with contextlib.suppress(queue.Empty):
            tally.add(results.get(timeout=0.5))
        if time.monotonic() >= next_line:
            emit(tally.line(time.monotonic() - started))
            next_line += LINE_EVERY_S
    for job in jobs:
        job.join(timeout=10)


def _final(tally: Tally, elapsed_s: float) -> list[str]:
    lines = [tally.line(elapsed_s), "", *tally.table()]
    failures = [r for r in tally.results if r.status != "valid"]
    if failures:
        lines += ["", "not valid (each saved; replay with the command):"]
    for r in failures:
        why = r.explained or "; ".join(r.problems)[:300]
        lines.append(f"- {r.status} ({r.family}): {why}")
        if r.replay:
            lines.append(f"    {r.replay}")
    return lines


def default_seed() -> int:
    return random.SystemRandom().randrange(1, 10**6)
