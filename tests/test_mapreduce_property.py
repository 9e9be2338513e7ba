"""The main property for the MapReduce mode: for every drawn scenario (files, workers,
settings, and up to three faults at the MapReduce crash points, Redis faults, or driver
crashes), the final counts equal the serial count, every map task is committed once, and
the job finishes. Each example runs the real ``wordcount run`` driver and worker
processes with ``--engine engine.mapreduce.engine:engine`` on a fresh Redis, and is
judged by the suite's checker (:mod:`faults.checker`), as ``tests/test_property.py``
judges the stream mode.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from engine import crashpoints as cp
from faults import scenario_json
from faults.profiles import WITH_FIXTURES
from faults.property import holds
from faults.scenario import Action, Fault, Scenario, Settings, Trigger
from faults.strategies import (
    CLAIM_TIMEOUTS_MS,
    CSV_COLUMN,
    PERSISTENCE,
    _duration,
    datasets,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ENGINE = "engine.mapreduce.engine:engine"
SMALL_PARTS = "engine.mapreduce.engine:small_parts"
"""Reduce commits staged and applied in up to 8 parts (of 3 words or more): the drawn
inputs reach the crash points between parts (``reduce.mid_stage``, ``reduce.mid_apply``)."""
WORKER_ACTIONS = ("crash", "slow", "raise", "hang")
REDIS_ACTIONS = ("redis-wipe", "redis-kill", "redis-pause", "redis-snapshot")
REDIS_POINTS = (*cp.MAPREDUCE, cp.DRIVER_BOOTSTRAP)
DRIVER_POINTS = (cp.DRIVER_BOOTSTRAP, cp.DRIVER_BEFORE_RESULT)


@st.composite
def mr_faults(draw: st.DrawFn, workers: int, claim_ms: int) -> tuple[Fault, ...]:
    """Up to three faults: at a MapReduce point in a worker, on Redis while a worker or
    the driver stands at a point, or a driver crash. Never more hung workers than there
    are others to steal their tasks."""
    faults, hangs = [], 0
    for _ in range(draw(st.integers(0, 3))):
        domain = draw(st.sampled_from(("worker", "redis", "driver")))
        if domain == "worker":
            point, kind = draw(st.sampled_from(cp.MAPREDUCE)), draw(st.sampled_from(WORKER_ACTIONS))
        elif domain == "redis":
            point, kind = draw(st.sampled_from(REDIS_POINTS)), draw(st.sampled_from(REDIS_ACTIONS))
        else:
            point, kind = draw(st.sampled_from(DRIVER_POINTS)), "crash"
        if kind == "hang" and hangs >= workers - 1:
            kind = "slow"
        hangs += kind == "hang"
        nth = 1 if point == cp.DRIVER_BEFORE_RESULT else draw(st.integers(1, 4))
        ms = _duration(kind, draw(st.sampled_from((0, 1, 2))), claim_ms)
        faults.append(Fault(Trigger(point, nth), Action(kind, ms)))
    return tuple(faults)


@st.composite
def mr_scenarios(draw: st.DrawFn) -> Scenario:
    dataset = draw(datasets(4))
    workers = draw(st.integers(1, 3))
    claim_ms = draw(st.sampled_from(CLAIM_TIMEOUTS_MS))
    faults = draw(mr_faults(workers, claim_ms))
    has_csv = any(name.endswith(".csv") for name in dataset.names())
    return Scenario(
        name="mapreduce",
        description="drawn by tests/test_mapreduce_property.py",
        workers=workers,
        dataset=dataset,
        settings=Settings(
            claim_timeout_ms=claim_ms,
            max_attempts=len(faults) + 5,
            persistence=draw(st.sampled_from(PERSISTENCE)),
            split_on=draw(st.sampled_from(("whitespace", "space"))),
            lower=draw(st.booleans()),
            csv_column=CSV_COLUMN if has_csv else None,
            chunk_bytes=draw(st.sampled_from((0, 4096))),
        ),
        faults=faults,
        timeout_s=90.0,
        liveness_s=20.0,
    )


def _examples() -> int:
    """At most 10 examples (about a minute and a half on a loaded two-core machine) unless
    the profile asks for more than 40 (``thorough``)."""
    current = settings.default.max_examples
    return current if current > 40 else min(current, 10)


@settings(max_examples=_examples(), suppress_health_check=WITH_FIXTURES)
@given(scenario=mr_scenarios(), engine=st.sampled_from((ENGINE, SMALL_PARTS)))
def test_mapreduce_under_faults(scenario: Scenario, engine: str, redis_backend: str) -> None:
    holds(scenario, redis_backend, engine=engine, label="mapreduce")


def test_reducers_stopped_by_faults_are_excused(redis_backend: str) -> None:
    """Found by the property: a worker raised in at ``reduce.before_commit`` was reported
    under the process name ``reduce-PID`` and its exit judged as quitting early."""
    path = Path(__file__).with_name("mapreduce_raise_then_crash.json")
    holds(scenario_json.load(path.read_text(encoding="utf-8")), redis_backend, engine=ENGINE,
          label="mapreduce")  # fmt: skip
