"""A failing dataflow scenario can be replayed from the JSON the property prints."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings

from faults.flow.replay import parse_scenario
from faults.flow.scenario import FlowScenario
from faults.flow.strategies import scenarios


@settings(max_examples=50, database=None)
@given(scenario=scenarios())
def test_describe_round_trips(scenario: FlowScenario) -> None:
    assert parse_scenario(scenario.describe()) == scenario


def test_replay_catches_a_buggy_executor_from_the_command_line() -> None:
    scenario = FlowScenario(
        {"partitions": 2, "operations": [{"operator": "reduce", "function": "SUB"}]},
        ((1, 5), (1, 2), (2, 7)),
        workers=1,
    )
    base = [sys.executable, "-m", "faults.flow.replay", scenario.describe()]
    buggy = subprocess.run(
        [*base, "--executor", "faults.flow.buggy:reduce_sub_empty"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert buggy.returncode == 1 and "INVALID" in buggy.stdout, buggy.stdout + buggy.stderr
    real = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0 and "VALID" in real.stdout, real.stdout + real.stderr
    bad = subprocess.run([*base[:3], "{}"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout.startswith("error: not a flow scenario")
