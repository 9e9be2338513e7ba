"""The suite has teeth: its main property catches every known-buggy engine.

Each engine of :mod:`faults.buggy` departs from the real one by one classic mistake and
gives exact counts when nothing goes wrong; :func:`faults.teeth.hunt` runs the main
property (the strategy of ``tests/test_property.py``) against it at the ``ci`` profile
(derandomized) and must find a failing scenario. Shrinking is off: the first failure is
the proof, and CI runs this on every backend. ``--hypothesis-seed`` (ignored by a
derandomized profile) gives the hunt that seed's draws instead, to check that a catch does
not hang on one draw sequence. That the real engine passes the same
property is ``tests/test_property.py``'s job. ``benchmarks/teeth.py`` prints the full
table, shrunk scenarios included.
"""

from __future__ import annotations

import pytest

from faults.buggy import VARIANTS
from faults.teeth import hunt

pytestmark = [pytest.mark.slow, pytest.mark.once, pytest.mark.timeout(1800)]
"""A hunt that misses runs 90 examples: past the default 300 s on a loaded machine, where
pytest-timeout's exception inside Hypothesis came out as a ``FlakyFailure``."""
PARAMS = sorted(VARIANTS)
EXAMPLES_FACTOR = 2
"""Twice the ``ci`` profile's examples per family (90 in all) before a variant counts as
missed. A caught variant stops at its first failure, so this costs time only on a miss."""


@pytest.mark.parametrize("variant", PARAMS)
def test_buggy_engine_is_caught(
    variant: str, redis_backend: str, pytestconfig: pytest.Config
) -> None:
    draw_seed = pytestconfig.getoption("hypothesis_seed", None)
    result = hunt(VARIANTS[variant], redis_backend, profile="ci", shrink=False,
                  label=f"teeth-{variant}", examples_factor=EXAMPLES_FACTOR,
                  draw_seed=None if draw_seed is None else int(draw_seed))  # fmt: skip
    assert result.error is None, f"{variant}: the hunt itself failed: {result.error}"
    faults = [str(f) for f in result.failure.outcome.scenario.faults] if result.failure else []
    print(f"{variant}: {result.examples} examples, {result.total_s:.0f} s, faults {faults}")
    assert result.caught, (
        f"{variant} passed {result.examples} examples of the main property at the ci profile: "
        "the suite no longer catches this bug"
    )
    assert result.failure is not None and result.failure.verdict.status == "invalid", (
        f"{variant} was only caught as {result.failure.verdict.status if result.failure else '?'}"
        ": an engine bug must make the verdict invalid, not unknown"
    )
