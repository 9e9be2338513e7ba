"""Recovery, case by case, on a real Redis: a worker crash in stage k re-executes only the
crashed task of stage k, and a driver crash between stages loses and repeats nothing."""

from __future__ import annotations

import pytest

from engine.flow import points
from engine.nodes.base import RedisNode
from faults.flow.checker import check, executions
from faults.flow.runner import PERSISTENCE, run_flow_scenario
from faults.flow.scenario import FlowFault, FlowScenario
from faults.scenario import Action

PROGRAM = {
    "partitions": 3,
    "operations": [
        {"operator": "map", "function": "MUL", "arg": 3},
        {"operator": "changeKey", "function": "MOD", "arg": 5},
        {"operator": "reduce", "function": "SUM"},
        {"operator": "changeKey", "function": "DIV", "arg": 7},
        {"operator": "reduce", "function": "PRODUCT"},
        {"operator": "map", "function": "ADD", "arg": 1},
    ],
}
PAIRS = tuple((k % 9, k * 13 - 200) for k in range(90))
STAGES = 3


@pytest.fixture
def flow_node(redis_node_factory) -> RedisNode:  # type: ignore[no-untyped-def]
    node: RedisNode = redis_node_factory(persistence=PERSISTENCE)
    return node


@pytest.mark.parametrize("stage", range(STAGES))
def test_worker_crash_reexecutes_only_its_task(flow_node: RedisNode, stage: int) -> None:
    crash = FlowFault(points.WORKER_BEFORE_COMMIT, Action("crash"), nth=1, stage=stage)
    # A long claim timeout: a worker stalled by the machine's load while reading its input
    # or reporting must not be robbed, or a second task would run twice.
    outcome = run_flow_scenario(FlowScenario(PROGRAM, PAIRS, 2, 2000, (crash,)), flow_node)
    assert check(outcome) == [], outcome.log_tail
    assert [str(f) for f in outcome.fired] == [str(crash)]
    runs = executions(outcome)
    again = {task: n for task, n in runs.items() if n != 1}
    assert list(again.values()) == [2] and next(iter(again))[0] == stage, runs
    assert len(runs) == STAGES * 3


def test_driver_crash_between_stages(flow_node: RedisNode) -> None:
    # Stage 1's first task waits 400 ms, so the driver sees stage 1 begin and crashes there.
    faults = (
        FlowFault(points.WORKER_AFTER_READ, Action("slow", 400), nth=1, stage=1),
        FlowFault(points.DRIVER_BETWEEN_STAGES, Action("crash"), nth=1),
    )
    outcome = run_flow_scenario(FlowScenario(PROGRAM, PAIRS, 2, 2000, faults), flow_node)
    assert check(outcome) == [], outcome.log_tail
    assert outcome.drivers == 2 and len(outcome.fired) == 2
    # Stage 0 had finished when the driver crashed: none of it ran again. (Workers of the
    # crashed driver die with it, so a stage-1 task they held may run twice.)
    runs = executions(outcome)
    assert [n for (stage, _), n in sorted(runs.items()) if stage == 0] == [1, 1, 1], runs
