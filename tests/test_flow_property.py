"""The dataflow property: generated programs and datasets, run by the real ``wordcount
flow run`` with real workers on a real Redis under generated faults, give the serial
interpreter's output, commit every task exactly once and never start a stage over.

One Redis node (snapshots every 500 ms, so a kill rolls it back) serves all the examples
of a test; each example has its own job.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from engine.nodes.base import RedisNode
from faults.flow.checker import check
from faults.flow.runner import PERSISTENCE, run_flow_scenario
from faults.flow.scenario import FlowScenario
from faults.flow.strategies import scenarios
from faults.profiles import WITH_FIXTURES


def verdict(scenario: FlowScenario, node: RedisNode, executor: str | None = None) -> list[str]:
    """The checker's problems with one run (empty: valid); revives the node first if an
    earlier example left it down."""
    if not node.is_running():
        node.restart()
    return check(run_flow_scenario(scenario, node, executor=executor))


@pytest.fixture
def flow_node(redis_node_factory) -> RedisNode:  # type: ignore[no-untyped-def]
    node: RedisNode = redis_node_factory(persistence=PERSISTENCE)
    return node


@settings(suppress_health_check=WITH_FIXTURES)
@given(scenario=scenarios())
def test_generated_programs_under_faults(flow_node: RedisNode, scenario: FlowScenario) -> None:
    problems = verdict(scenario, flow_node)
    assert not problems, (
        f"{problems}\nreplay: python -m faults.flow.replay '{scenario.describe()}' --repeat 10"
    )
