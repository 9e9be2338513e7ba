"""The Redis families draw a loss of Redis' data just after a commit, often.

``faults.buggy.memory_progress`` (a worker that trusts its memory of the tasks it
committed) is caught only when Redis loses a commit while the worker that made it lives
on: the job is bootstrapped again and the worker skips what it remembers. Drawn apart, a
data-losing kind and the ``commit`` point met in under 3 % of the ``redis-faults``
examples, and ``ci`` hunts of 90 examples missed the variant. Draws only: no Redis.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from faults.coverage import loses_first_commit
from faults.families import families
from faults.scenario import Scenario

DRAWS = 200
FLOOR = {"redis-faults": 0.15, "any-faults": 0.06}
"""Least share of examples with such a fault; about 0.25 and 0.11 are drawn (before the
change: 0.03 and 0.01)."""


@pytest.mark.parametrize("family", sorted(FLOOR))
def test_redis_families_lose_a_commit_often(family: str) -> None:
    hits: list[bool] = []

    @settings(max_examples=DRAWS, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(families(0)[family])
    def collect(scenario: Scenario) -> None:
        hits.append(loses_first_commit(scenario))

    collect()
    share = sum(hits) / len(hits)
    assert share >= FLOOR[family], f"{family}: {share:.1%} of {len(hits)} draws lose a commit"
