"""A modest number of draws from the main property's strategies reaches every boundary:
each engine threshold crossed (but those :data:`faults.thresholds.NOT_DRAWN` names), the
claim timeout floor, every whitespace character, every invalid UTF-8 class, and Redis
snapshots and restarts in every phase. A change to the strategies that loses one fails
here, before a suite run would quietly stop testing it. Draws only: no Redis.

The vocabulary cap is lowered to just past the staging threshold, so the draws that cross
it cost a fraction of a second to generate instead of seconds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.errors import NoSuchExample

from engine.worker import MAX_PAIRS_PER_CALL
from faults import coverage
from faults.families import families
from faults.scenario import Scenario
from faults.thresholds import NOT_DRAWN

DRAWS = 80
"""Per family; the three together reach every label with this derandomized seed, and a
strategy that loses a tier (say the large files) misses several."""
CAP = MAX_PAIRS_PER_CALL + 100_000
SEARCH = 600
"""Examples per family when one label is searched for on its own."""


@pytest.mark.timeout(1800)  # the census draws million-word datasets: minutes under load
def test_draws_reach_every_boundary() -> None:
    seen: dict[str, set[str]] = {}
    for name, family in families(CAP).items():
        mine = seen.setdefault(name, set())

        @settings(max_examples=DRAWS, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(family)
        def collect(scenario: Scenario) -> None:
            mine.update(coverage.drawn_labels(scenario))  # noqa: B023 - called at once

        collect()
    everything = set().union(*seen.values())
    wanted = [label for label in coverage.ALL if label.removeprefix("threshold:") not in NOT_DRAWN]
    missing = [label for label in wanted if label not in everything and not _found(label, seen)]
    assert not missing, f"{len(missing)} boundaries never drawn: {missing}"


def _found(label: str, seen: dict[str, set[str]]) -> bool:
    """A label the census missed, searched for on its own: rare is fine, unreachable is
    not (one derandomized census depends on how its seed falls after any change).

    The families that drew most labels of its kind (``phase:``, ``threshold:``...) are
    searched first, and a phase label is read from the faults alone (``drawn_phases``,
    no tokenizing): searching every family in turn took 6 of this test's 7 minutes in CI.
    """
    prefix = label.partition(":")[0] + ":"
    labels = coverage.drawn_phases if prefix == "phase:" else coverage.drawn_labels
    ranked = sorted(seen, key=lambda name: -sum(x.startswith(prefix) for x in seen[name]))
    for name in ranked:
        try:
            find(families(CAP)[name], lambda scenario: label in labels(scenario),
                 settings=settings(max_examples=SEARCH, database=None, deadline=None,
                                   derandomize=True,  # a rare label: found always or never
                                   suppress_health_check=list(HealthCheck)))  # fmt: skip
        except NoSuchExample:
            continue
        return True
    return False
