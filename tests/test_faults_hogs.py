"""CPU hogs start, spin and stop, and a run's end stops those the ``cpu-hog`` kind began."""

from __future__ import annotations

from faults.hogs import Hogs


def test_hogs_spin_until_stopped() -> None:
    with Hogs(2) as hogs:
        assert hogs.running() == 2
        hogs.start()  # idempotent: still two
        assert hogs.running() == 2
    assert hogs.running() == 0


def test_the_nemesis_stops_its_hogs_at_the_end() -> None:
    from engine.keys import JobKeys
    from faults.history import History
    from faults.nemesis import Nemesis
    from faults.scenario import Dataset, Scenario

    scenario = Scenario(name="hogs", dataset=Dataset())
    nemesis = Nemesis(scenario, None, History(), JobKeys("hogs"))  # type: ignore[arg-type]
    nemesis.load_machine(60_000)
    (hogs, timer), = nemesis.hogs
    assert hogs.running() >= 1 and timer.is_alive()
    nemesis.release_all()
    assert hogs.running() == 0 and not nemesis.hogs
