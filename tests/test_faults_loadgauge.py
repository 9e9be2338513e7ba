"""The liveness scale read from the load average (faults/loadgauge.py)."""

from __future__ import annotations

import os

import pytest

from faults.loadgauge import MAX_FACTOR, LoadGauge, scale, scaled


@pytest.mark.parametrize(
    ("load", "cores", "factor"),
    [(0.0, 2, 1.0), (4.0, 2, 1.0), (6.0, 2, 1.5), (30.0, 2, 7.5), (500.0, 2, MAX_FACTOR),
     (8.0, 1, 4.0)],
)
def test_the_factor_counts_load_past_two_per_core(load: float, cores: int, factor: float) -> None:
    assert scale(load, cores) == factor


def test_a_quiet_factor_is_not_mentioned() -> None:
    assert scaled(1.0) == ""
    assert scaled(2.5) == ", x2.5 for the machine's load"


def test_the_gauge_keeps_the_busiest_reading() -> None:
    gauge = LoadGauge(cores=1)
    gauge.sample()
    assert gauge.peak == pytest.approx(os.getloadavg()[0], abs=5.0)
    gauge.peak = 10.0
    gauge.sample()  # rate-limited: no new reading within a second
    assert gauge.peak == 10.0
    assert gauge.factor == 5.0
