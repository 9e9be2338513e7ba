"""The Hypothesis profiles of the suite, importable outside pytest.

``conftest.py`` registers them for the tests, and ``benchmarks/teeth.py`` needs the very
same settings to measure what the suite catches, so they live here once. Every example
talks to real Redis servers: no deadline (a restart takes as long as it takes) and no
too_slow check.
"""

from __future__ import annotations

import hypothesis
from hypothesis import HealthCheck

PROFILES = ("ci", "ci-again", "dev", "thorough")
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
WITH_FIXTURES = [*SLOW_OK, HealthCheck.function_scoped_fixture]
"""For tests that take fixtures: a test's own ``suppress_health_check`` replaces the
profile's list, and one that named only the fixture check failed as too slow under load."""
_REAL_SERVERS = hypothesis.settings(deadline=None, suppress_health_check=SLOW_OK)


def register() -> None:
    """Register ``ci`` (15 examples, derandomized), ``ci-again`` (5), ``dev`` (40) and
    ``thorough`` (2000).

    ``ci-again`` is for a second backend's pass of ``scripts/test``: the first pass drew
    the ``ci`` examples on local processes, and the second one has to show that the same
    properties hold on containers, not to search again as widely (it cost CI three more
    minutes on a two-core machine)."""
    register = hypothesis.settings.register_profile
    register("ci", _REAL_SERVERS, max_examples=15, stateful_step_count=20, derandomize=True,
             print_blob=True)  # fmt: skip
    register("ci-again", _REAL_SERVERS, max_examples=5, stateful_step_count=20,
             derandomize=True, print_blob=True)  # fmt: skip
    register("dev", _REAL_SERVERS, max_examples=40, print_blob=True)
    register("thorough", _REAL_SERVERS, max_examples=2000, stateful_step_count=60,
             print_blob=True)  # fmt: skip


def get(name: str) -> hypothesis.settings:
    """The settings of profile ``name`` (registering the profiles first if need be)."""
    if name not in PROFILES:
        raise ValueError(f"unknown Hypothesis profile {name!r}: use one of {', '.join(PROFILES)}")
    register()
    return hypothesis.settings.get_profile(name)
