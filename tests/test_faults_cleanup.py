"""A run leaves nothing behind: no driver, worker or redis-server process, no temp dir,
whether it ends normally (with a straggler hung and a worker crashed on the way) or is
interrupted by Ctrl-C in the middle of the job."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import psutil
import pytest

from faults import runner, warm, zygote
from faults.agent import CONTROLLER_ENV
from faults.checker import check
from faults.runner import run_scenario
from faults.scenario import Dataset, Fault, Generated, Scenario, Settings


def messy_scenario() -> Scenario:
    return Scenario(
        name="leftovers",
        workers=3,
        dataset=Dataset(generated=Generated(seed=4, files=6, words=200)),
        settings=Settings(claim_timeout_ms=400),
        faults=(
            Fault.parse("worker.after_count#1:hang"),
            Fault.parse("worker.after_read#3:crash"),
        ),
        timeout_s=120,
    )


def run_processes(marker: str, sessions: Collection[int]) -> list[str]:
    """Processes anywhere whose environment names this run's controller, or that live in
    a session one of its drivers opened (a driver forked by the fork server, and workers
    forked by a driver, show the environment of the process they were forked from)."""
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            ours = proc.environ().get(CONTROLLER_ENV) == marker
            ours = ours or os.getsid(proc.info["pid"]) in sessions
            if ours and proc.status() != "zombie":
                found.append(f"{proc.info['name']} (pid {proc.info['pid']})")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def live_children() -> set[int]:
    """Live descendants of this process, but for what outlives runs on purpose: the driver
    fork server (its children, the drivers, are counted) and the warm Redis nodes."""
    kept = {zygote.server_pid()} | {getattr(node, "pid", None) for node in warm.POOL.idle()}
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE and child.pid not in kept
    }


def test_no_process_of_a_run_remains() -> None:
    before = live_children()
    outcome = run_scenario(messy_scenario(), "process")
    verdict = check(outcome)
    assert verdict.status == "valid", verdict.problems
    assert {str(f.fault) for f in outcome.fired} == {str(f) for f in messy_scenario().faults}
    assert run_processes(outcome.marker, [d.pid for d in outcome.drivers]) == []
    assert live_children() - before == set(), "a driver, worker or redis-server survived"
    assert not Path(outcome.marker).parent.exists(), "the temp dir was left behind"


def test_an_interrupted_run_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C once the workers are busy: the KeyboardInterrupt goes through, after the
    cleanup."""
    seen: dict[str, str] = {}
    drivers: list[int] = []
    release = runner._Run._release_stragglers

    def interrupt_once_busy(self: runner._Run) -> None:
        seen["marker"] = self.socket_path
        drivers[:] = [d.pid for d in self.outcome.drivers]
        if len(self.history.select("deliver")) >= 2:
            raise KeyboardInterrupt
        release(self)

    monkeypatch.setattr(runner._Run, "_release_stragglers", interrupt_once_busy)
    before = live_children()
    with pytest.raises(KeyboardInterrupt):
        run_scenario(messy_scenario(), "process")
    assert drivers, "no driver was started"
    assert run_processes(seen["marker"], drivers) == []
    assert live_children() - before == set()
    assert not Path(seen["marker"]).parent.exists()
