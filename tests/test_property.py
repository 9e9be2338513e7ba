"""The main property: for every drawn scenario, the final counts equal the serial count,
every task is committed once, and the job finishes.

Scenarios are drawn by :mod:`faults.strategies` and run against real Redis servers of the
selected backend, one fresh server per example. The draws are split into families (worker
faults, Redis faults, mixed) so that ``pytest -n auto`` spreads them over its workers and
each family gets its own examples under every Hypothesis profile. A failure is shrunk,
printed with its JSON and saved under ``.faults/failures/`` with the command that replays
it; see :mod:`faults.property`. ``--engine MODULE:FACTORY`` points it at another engine.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from faults.property import holds
from faults.scenario import Scenario
from faults.strategies import families

# Shrinking a failure re-runs scenarios for minutes (Hypothesis gives up after five):
# pytest-timeout must not cut it short and report a timeout instead of the shrunk case.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# The fixtures these tests take are plain strings, the same for every example.
_FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
FAMILIES = families()  # shared with faults.teeth, which measures what they catch


@_FIXTURES_OK
@given(scenario=FAMILIES["worker-faults"])
def test_worker_and_driver_faults(
    scenario: Scenario, redis_backend: str, engine_under_test: str | None
) -> None:
    holds(scenario, redis_backend, engine=engine_under_test, label="worker-faults")


@_FIXTURES_OK
@given(scenario=FAMILIES["redis-faults"])
def test_redis_faults(
    scenario: Scenario, redis_backend: str, engine_under_test: str | None
) -> None:
    holds(scenario, redis_backend, engine=engine_under_test, label="redis-faults")


@_FIXTURES_OK
@given(scenario=FAMILIES["any-faults"])
def test_any_faults(scenario: Scenario, redis_backend: str, engine_under_test: str | None) -> None:
    holds(scenario, redis_backend, engine=engine_under_test, label="any-faults")
