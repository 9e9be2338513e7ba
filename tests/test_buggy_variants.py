"""Each known-buggy engine is correct when nothing goes wrong.

The teeth measurements mean something only if every variant fails *because of its bug*:
a variant that lost counts on a fault-free run would be caught by any test at all. So
each must end a fault-free run with exactly the serial counts and every task committed
(its atomicity samples may still be wrong: that is how some of them are caught).
"""

from __future__ import annotations

import pytest

from faults.buggy import VARIANTS
from faults.checker import check
from faults.runner import run_scenario
from faults.scenario import Dataset, FileSpec, Generated, Scenario

DATASET = Dataset(
    files=(FileSpec("one-word.txt", b"solo"), FileSpec("empty.txt", b"")),
    generated=Generated(seed=3, files=3, words=300, vocabulary=40),
)


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
