"""Hunting a buggy executor with the dataflow property: draw scenarios (the strategy of
``tests/test_flow_property.py``) until one run is judged invalid, without shrinking."""

from __future__ import annotations

import contextlib
import dataclasses

import hypothesis
from hypothesis import HealthCheck, Phase

from engine.nodes.base import RedisNode
from faults.flow.checker import check
from faults.flow.runner import run_flow_scenario
from faults.flow.scenario import FlowScenario
from faults.flow.strategies import scenarios


@dataclasses.dataclass
class FlowHunt:
    examples: int = 0
    caught: FlowScenario | None = None
    problems: list[str] = dataclasses.field(default_factory=list)


def hunt(executor: str | None, node: RedisNode, max_examples: int) -> FlowHunt:
    """Run up to ``max_examples`` derandomized scenarios against ``executor`` (a
    ``module:factory`` spec, ``None`` for the real one), stopping at the first invalid."""
    result = FlowHunt()

    def invalid(scenario: FlowScenario) -> bool:
        if result.caught is not None:
            return True  # find() replays the failing example: do not run it again
        result.examples += 1
        if not node.is_running():
            node.restart()
        problems = check(run_flow_scenario(scenario, node, executor=executor))
        if problems:
            result.caught, result.problems = scenario, problems
        return bool(problems)

    settings = hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    with contextlib.suppress(hypothesis.errors.NoSuchExample):
        hypothesis.find(scenarios(), invalid, settings=settings)
    return result
