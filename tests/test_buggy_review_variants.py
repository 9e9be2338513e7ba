"""The variants of faults.buggy_review: exact without faults, caught by their scenario.

Each keeps the old behaviour of one bug of issue 11. A variant that miscounted with no
fault would be caught by anything, so each must first count exactly on a fault-free run;
then the regression scenario written for its bug, which the real engine passes (that is
tests/test_faults_regressions.py), must judge it invalid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.nodes.base import RedisNode
from faults.buggy_review import SCENARIOS, VARIANTS
from faults.checker import check
from faults.runner import run_scenario
from faults.scenario import Dataset, FileSpec, Generated, Scenario

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
DATASET = Dataset(
    files=(FileSpec("one-word.txt", b"solo"), FileSpec("empty.txt", b"")),
    generated=Generated(seed=3, files=3, words=300, vocabulary=40),
)


def test_every_variant_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(VARIANTS)
    for name in SCENARIOS.values():
        assert (SCENARIO_DIR / f"{name}.json").is_file(), name


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_counts_exactly_without_faults(variant: str, redis_backend: str) -> None:
    scenario = Scenario(name=f"fault-free-{variant}", dataset=DATASET, workers=2)
    outcome = run_scenario(scenario, redis_backend, engine=VARIANTS[variant])
    verdict = check(outcome)
    assert outcome.error is None, outcome.error
    assert verdict.words == (), f"{variant} miscounts with no fault: {verdict.words[:5]}"
    assert verdict.missing_tasks == () and verdict.doubled_tasks == (), verdict.problems
    assert outcome.final is not None and outcome.final.job is not None
    assert outcome.final.job.get("state") == "done"


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_fails_its_scenario(
    variant: str, redis_backend: str, redis_node_factory: Callable[..., RedisNode]
) -> None:
    path = SCENARIO_DIR / f"{SCENARIOS[variant]}.json"
    scenario = Scenario.from_json(path.read_text(encoding="utf-8"))
    node = redis_node_factory(start=False, persistence=scenario.settings.persistence_spec())
    outcome = run_scenario(scenario, node, engine=VARIANTS[variant])
    assert check(outcome).status == "invalid", f"{variant} passed {path.name}"
