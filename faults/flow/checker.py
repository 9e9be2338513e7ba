"""Verdicts on a dataflow run: the output equals the serial interpreter's, every task
was committed exactly once, and no stage ran again once it had finished.

The last two are judged only when Redis kept its data (no kill or wipe fired): a Redis that
comes back from an older snapshot, or empty, has legitimately forgotten finished work,
which must then be done again.
"""

from __future__ import annotations

from engine.flow import points
from engine.flow.interpret import interpret
from engine.flow.plan import plan_stages
from engine.flow.program import parse_program
from faults.flow.runner import FlowOutcome


def executions(outcome: FlowOutcome) -> dict[tuple[int, int], int]:
    """How many times each task (stage, partition) ran its operators."""
    counts: dict[tuple[int, int], int] = {}
    for op in outcome.history.select(points.WORKER_AFTER_EXECUTE):
        task = (int(op.value["stage"]), int(op.value["partition"]))
        counts[task] = counts.get(task, 0) + 1
    return counts


def check(outcome: FlowOutcome) -> list[str]:
    """Problems found (empty: valid)."""
    scenario = outcome.scenario
    if outcome.error is not None:
        return [outcome.error]
    program = parse_program(scenario.program)
    expected = interpret(program, list(scenario.pairs))
    problems = []
    if outcome.output != expected:
        problems.append(
            f"output differs from the serial interpreter's: got "
            f"{_short(outcome.output)}, want {_short(expected)}"
        )
    if outcome.data_lost:
        return problems
    n_stages, partitions = len(plan_stages(program)), program.partitions
    want = {f"{s}:{p}": 1 for s in range(n_stages) for p in range(partitions)}
    if outcome.runs != want:
        extra = {k: v for k, v in outcome.runs.items() if want.get(k) != v}
        missing = sorted(set(want) - set(outcome.runs))
        problems.append(f"tasks not committed exactly once: {extra or ''} missing {missing}")
    problems += _reruns(outcome)
    return problems


def _reruns(outcome: FlowOutcome) -> list[str]:
    """A task read as new (XREADGROUP ``>``) twice: a stream hands each entry out as new
    once, so its stage's tasks were added again, which happens only when a stage (finished
    or not) is started over. Stolen tasks arrive by XAUTOCLAIM instead, which only returns
    entries still pending, never those of a finished stage. Judged on arrival records,
    not on their times, so a worker slow to report cannot make a false alarm."""
    seen: dict[tuple[int, int], int] = {}
    for op in outcome.history.select(points.WORKER_AFTER_READ):
        task = (int(op.value["stage"]), int(op.value["partition"]))
        seen[task] = seen.get(task, 0) + 1
    return [
        f"stage {s} ran again: task {s}:{p} was read as new {n} times"
        for (s, p), n in sorted(seen.items())
        if n > 1
    ]


def _short(pairs: list[tuple[int, int]] | None, limit: int = 12) -> str:
    if pairs is None:
        return "nothing"
    text = ", ".join(f"{k}:{v}" for k, v in pairs[:limit])
    return f"[{text}{', ...' if len(pairs) > limit else ''}] ({len(pairs)} pairs)"
