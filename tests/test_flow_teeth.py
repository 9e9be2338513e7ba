"""The dataflow property has teeth: it catches each of the four defects of the public
dataflow implementation (``faults/flow/buggy.py``): changeKey from the key, no
re-partitioning after a key change, SUB/DIV reduce returning nothing, and recovery
applying the last operator twice. Derandomized, shrinking off, stopping at the first
invalid run, within four times the profile's examples (60 at ``ci``; measured: caught at
the 3rd, 11th, 9th and 8th example, in the order of the list above). The recovery defect
needs a fault that makes a worker steal a task with data whose stage ends with an
operator that changes it when repeated; re-partitioning needs a key change that sends one
key's values to several partitions."""

from __future__ import annotations

import hypothesis
import pytest

from engine.nodes.base import RedisNode
from faults.flow.buggy import VARIANTS
from faults.flow.runner import PERSISTENCE
from faults.flow.teeth import hunt

pytestmark = [pytest.mark.slow, pytest.mark.once]


@pytest.fixture
def flow_node(redis_node_factory) -> RedisNode:  # type: ignore[no-untyped-def]
    node: RedisNode = redis_node_factory(persistence=PERSISTENCE)
    return node


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_buggy_executor_is_caught(variant: str, flow_node: RedisNode) -> None:
    budget = 4 * (hypothesis.settings.default.max_examples or 15)
    result = hunt(f"faults.flow.buggy:{variant}", flow_node, budget)
    assert result.caught is not None, (
        f"{variant} passed {result.examples} generated dataflow scenarios: the property "
        "no longer catches this defect"
    )
    assert any("output differs" in p for p in result.problems), result.problems
