"""The checker never raises, whatever a run hands it: Hypothesis builds histories, samples
and final states that no correct engine would leave (entries of no task, task indexes out
of range, counters that are not numbers, commits reported twice, restarts anywhere) and
the checker must answer with a verdict, never with "the checker failed".

Once it raised ``IndexError: list index out of range``: an acknowledged entry whose task
index lay outside the job's tasks (a stream entry without an index reads as -1, and the
per-task reference of an empty job has no element -1) reached ``reference[i]``.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from faults.checker import check
from faults.db import DeadLetter, FinalState, Sample
from faults.history import History
from faults.kinds import KINDS
from faults.nemesis import FiredFault
from faults.outcome import DriverRun, Outcome
from faults.scenario import Dataset, Expect, Fault, FileSpec, Scenario

WORDS = st.sampled_from(["one", "two", "three", "caf\udcff", "ghost"])
ENTRIES = st.sampled_from(["1-0", "2-0", "3-0", "9-0", "0-1", "x"])
INDEXES = st.integers(-2, 4)
PROCESSES = st.sampled_from(["worker-1", "worker-2", "driver-3", "nemesis", "runner"])
TIMES = st.floats(0, 10, allow_nan=False)
COUNTS = st.dictionaries(WORDS, st.integers(-2, 5), max_size=4)
NUMBERISH = st.one_of(st.integers(-1, 4).map(str), st.just("x"), st.just(""))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(0, 3))
    files = tuple(FileSpec(f"f{i}.txt", draw(st.sampled_from([b"", b"one two", b"two three"])))
                  for i in range(n))  # fmt: skip
    dead = tuple(draw(st.lists(st.integers(0, max(0, n - 1)), max_size=1))) if n else ()
    return Scenario(name="fuzz", dataset=Dataset(files=files), workers=2,
                    expect=Expect(dead=dead, allow_dead=draw(st.booleans())))  # fmt: skip


def op_values() -> st.SearchStrategy[dict[str, Any]]:
    entries = st.lists(ENTRIES, max_size=3)
    return st.one_of(
        st.fixed_dictionaries({"entry": ENTRIES, "index": INDEXES}),
        st.fixed_dictionaries({"entries": entries, "indexes": st.lists(INDEXES, max_size=3)}),
        st.fixed_dictionaries({"done_after": entries}),
        st.just({}),
    )


@st.composite
def histories(draw: st.DrawFn) -> History:
    history = History(start=0.0)
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["invoke", "ok", "fail", "info"]))
        f = draw(st.sampled_from(["deliver", "claim", "commit", "quit", "redis-kill", "exit"]))
        history.add(kind, draw(PROCESSES), f, draw(op_values()))
    return history


@st.composite
def finals(draw: st.DrawFn) -> FinalState | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    job = draw(st.one_of(st.none(), st.fixed_dictionaries({
        "state": st.sampled_from(["done", "failed", "ready", "bootstrapping"]),
        "tasks_done": NUMBERISH, "tasks_failed": NUMBERISH,
    })))  # fmt: skip
    dead = draw(st.lists(st.builds(DeadLetter, ENTRIES, INDEXES, st.just("e"), st.just("w")),
                         max_size=2))  # fmt: skip
    return FinalState(
        counts=draw(COUNTS),
        done=frozenset(draw(st.lists(ENTRIES, max_size=4))),
        dead=tuple(dead),
        job=job,
        entries=draw(st.dictionaries(ENTRIES, INDEXES, max_size=4)),
    )


@st.composite
def fired(draw: st.DrawFn) -> FiredFault:
    name = draw(st.sampled_from(sorted(KINDS)))
    duration = KINDS[name].duration
    ms = duration.drawn(500)[1] if duration else 0
    at = "commit" if KINDS[name].target != "process" else "worker.after_count"
    fault = Fault.parse(f"{at}#1:{name}" + (f"={ms}" if ms else ""))
    start = draw(TIMES)
    return FiredFault(0, fault, draw(PROCESSES), at, {}, start, start + draw(TIMES))


@st.composite
def outcomes(draw: st.DrawFn) -> Outcome:
    samples = draw(
        st.lists(
            st.builds(
                Sample,
                TIMES,
                st.frozensets(ENTRIES, max_size=3),
                COUNTS,
                st.sampled_from([None, "ready", "done"]),
            ),
            max_size=4,
        )
    )
    return Outcome(
        draw(scenarios()), "process", "job", draw(histories()),
        final=draw(finals()), fired=draw(st.lists(fired(), max_size=2)), samples=samples,
        drivers=draw(st.lists(st.builds(DriverRun, st.integers(1, 9), TIMES,
                                        st.none() | TIMES, st.none() | st.integers(0, 2)),
                              max_size=2)),
        error=draw(st.none() | st.just("timeout")),
        driver_failure=draw(st.none() | st.just("exited 2")),
        stalled=draw(st.none() | st.just("stalled")),
        finished_at=draw(st.none() | TIMES),
    )  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes())
def test_the_checker_never_raises_on_any_outcome(outcome: Outcome) -> None:
    verdict = check(outcome)
    assert verdict.status in ("valid", "invalid", "unknown")
    assert not any("the checker failed" in p for p in verdict.problems), verdict.problems
