"""Hypothesis strategies for dataflow scenarios: programs of 0 to 8 operators, datasets
with duplicate keys, negative values, one key or none, and fault schedules per stage.

Faults are drawn domain first (worker, Redis, driver), as the word count's strategies do,
and worker faults sit mostly where they hurt: after executing and before committing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from engine.flow import points
from engine.flow.functions import MAP_FUNCTIONS, NONZERO_ARG, REDUCE_ALIASES, REDUCE_FUNCTIONS
from engine.flow.plan import plan_stages
from engine.flow.program import parse_program
from faults.flow.scenario import FlowFault, FlowScenario
from faults.scenario import Action

SMALL_ARGS = st.integers(-6, 6)
BIG_ARGS = st.integers(-(10**24), 10**24)


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(st.sampled_from(["map", "map", "changeKey", "reduce"]))
    if operator == "reduce":
        names = sorted([*REDUCE_FUNCTIONS, *REDUCE_ALIASES])
        return {"operator": "reduce", "function": draw(st.sampled_from(names))}
    if operator == "changeKey" and draw(st.booleans()):
        # Few distinct new keys, spread over every partition: what a reduce after a key
        # change must gather from all of them.
        function, arg = draw(st.sampled_from(["MOD", "DIV"])), draw(st.integers(2, 6))
        return {"operator": operator, "function": function, "arg": arg}
    function = draw(st.sampled_from(sorted(MAP_FUNCTIONS)))
    arg = draw(st.one_of(SMALL_ARGS, SMALL_ARGS, BIG_ARGS))
    if function in NONZERO_ARG and arg == 0:
        arg = 3
    if operator == "changeKey" and function not in ("DIV", "MOD"):
        arg = draw(SMALL_ARGS)  # keys stay small, so reduces meet duplicate keys
    return {"operator": operator, "function": function, "arg": arg}


@st.composite
def programs(draw: st.DrawFn, n_ops: int) -> list[dict[str, Any]]:
    """``n_ops`` operators; a third of the time, where they fit, a key change, a reduce and
    a map: the stage cut and the re-partitioning are what a distributed run adds to the
    serial interpreter, so most programs must have them, and a stage that ends with an
    operator that changes the data when repeated shows a recovery that repeats it."""
    ops: list[dict[str, Any]] = []
    while len(ops) < n_ops:
        if n_ops - len(ops) >= 2 and draw(st.sampled_from([True, False, False])):
            function, arg = draw(st.sampled_from(["MOD", "DIV"])), draw(st.integers(2, 6))
            reduce = draw(st.sampled_from(sorted([*REDUCE_FUNCTIONS, *REDUCE_ALIASES])))
            ops += [
                {"operator": "changeKey", "function": function, "arg": arg},
                {"operator": "reduce", "function": reduce},
            ]
            if n_ops > len(ops) and draw(st.booleans()):
                step = draw(st.sampled_from(["ADD", "SUB", "MUL"]))
                ops.append({"operator": "map", "function": step, "arg": draw(st.integers(2, 9))})
        else:
            ops.append(draw(operations()))
    return ops


@st.composite
def datasets(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    kind = draw(st.sampled_from(["mixed"] * 5 + ["one-key"] * 2 + ["empty"]))
    if kind == "empty":
        return ()
    keys = st.just(draw(st.integers(-5, 5))) if kind == "one-key" else st.integers(-5, 5)
    small = st.integers(-20, 20)
    values = st.one_of(small, small, small, st.integers(-(10**20), 10**20))
    size = draw(st.integers(1, 40))
    pairs = draw(st.lists(st.tuples(keys, values), min_size=size, max_size=size))
    return tuple(pairs)


@st.composite
def faults(draw: st.DrawFn, n_stages: int, claim_ms: int) -> FlowFault:
    domain = draw(st.sampled_from(["worker", "worker", "worker", "redis", "driver"]))
    stage = draw(st.one_of(st.none(), st.integers(0, n_stages - 1)))
    nth = draw(st.sampled_from([1, 1, 2, 3]))
    if domain == "driver":
        point = draw(st.sampled_from(points.DRIVER_POINTS))
        return FlowFault(point, Action("crash"), nth=1, stage=None)
    hot = [points.WORKER_AFTER_EXECUTE, points.WORKER_BEFORE_COMMIT]
    if domain == "redis":
        point = draw(st.sampled_from([points.WORKER_AFTER_COMMIT, *hot, points.WORKER_AFTER_READ]))
        kind = draw(st.sampled_from(["redis-kill", "redis-wipe", "redis-pause", "redis-snapshot"]))
        ms = draw(st.sampled_from([50, 200])) if kind != "redis-snapshot" else 0
        return FlowFault(point, Action(kind, ms), nth=nth, stage=stage)
    hot.append(points.WORKER_AFTER_READ)  # a task held when it dies is stolen: recovery
    point = draw(st.sampled_from([*hot, *hot, *hot, *points.WORKER_POINTS]))
    kind = draw(st.sampled_from(["crash", "crash", "hang", "slow"]))
    ms = draw(st.sampled_from([claim_ms // 3, claim_ms * 2, claim_ms * 2])) if kind == "slow" else 0
    return FlowFault(point, Action(kind, ms), nth=nth, stage=stage)


@st.composite
def scenarios(draw: st.DrawFn) -> FlowScenario:
    # Sizes drawn evenly, not by the lists' default (mostly short): a program of 8
    # operators under 3 faults must be as likely as an empty one.
    n_ops, n_faults = draw(st.integers(0, 8)), draw(st.integers(0, 3))
    program = {"partitions": draw(st.integers(1, 8)), "operations": draw(programs(n_ops))}
    n_stages = len(plan_stages(parse_program(program)))
    claim_ms = draw(st.sampled_from([300, 600]))
    drawn = tuple(draw(st.lists(faults(n_stages, claim_ms), min_size=n_faults, max_size=n_faults)))
    hangs = sum(f.action.kind == "hang" for f in drawn)
    if hangs > 2:  # each hang holds a worker for good: leave one to do the work
        drawn = tuple(f for f in drawn if f.action.kind != "hang") + drawn[-1:]
        hangs = 1
    workers = max(draw(st.integers(1, 3)), hangs + 1)
    return FlowScenario(program, draw(datasets()), workers, claim_ms, drawn)
