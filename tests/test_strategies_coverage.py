"""A modest number of draws from the main property's strategies reaches every boundary:
each engine threshold crossed (but those :data:`faults.thresholds.NOT_DRAWN` names), the
claim timeout floor, every whitespace character, every invalid UTF-8 class, and Redis
snapshots and restarts in every phase. A change to the strategies that loses one fails
here, before a suite run would quietly stop testing it. Draws only: no Redis.

The vocabulary cap is lowered to just past the staging threshold, so the draws that cross
it cost a fraction of a second to generate instead of seconds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings

from engine.worker import MAX_PAIRS_PER_CALL
from faults import coverage
from faults.scenario import Scenario
from faults.strategies import families
from faults.thresholds import NOT_DRAWN

DRAWS = 80
"""Per family; the three together reach every label with this derandomized seed, and a
strategy that loses a tier (say the large files) misses several."""
CAP = MAX_PAIRS_PER_CALL + 100_000


def test_draws_reach_every_boundary() -> None:
    seen: set[str] = set()
    for family in families(CAP).values():

        @settings(max_examples=DRAWS, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(family)
        def collect(scenario: Scenario) -> None:
            seen.update(coverage.drawn_labels(scenario))

        collect()
    wanted = [label for label in coverage.ALL if label.removeprefix("threshold:") not in NOT_DRAWN]
    missing = [label for label in wanted if label not in seen]
    assert not missing, f"{len(missing)} boundaries never drawn in {3 * DRAWS} draws: {missing}"
