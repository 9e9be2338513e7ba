"""The agent and the controller over a real Unix socket, without the engine or Redis:
arrival counting, task filters, the answers, the history, and failing open."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import crashpoints as cp
from faults import agent
from faults.controller import Controller
from faults.history import History
from faults.nemesis import Nemesis
from faults.scenario import Dataset, Fault, FileSpec, Scenario


class NoRedis:
    """Stands in for the DB: these scenarios have no Redis actions."""

    def kill(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no Redis action expected")


def make_nemesis(*faults: str) -> Nemesis:
    from engine.keys import JobKeys

    scenario = Scenario(
        name="ctl",
        dataset=Dataset(files=tuple(FileSpec(f"f{i}.txt", b"x") for i in range(4))),
        faults=tuple(Fault.parse(f) for f in faults),
    )
    return Nemesis(scenario, NoRedis(), History(), JobKeys("ctl"))  # type: ignore[arg-type]


@pytest.fixture
def fault_controller(tmp_path: Path) -> Iterator[tuple[Controller, str]]:
    path = str(tmp_path / "c.sock")
    nemesis = make_nemesis(
        "worker.after_count#2:slow=30", "worker.after_count@3#1:raise", "commit#2:crash"
    )
    with Controller(path, nemesis) as controller:
        yield controller, path


def test_arrivals_are_counted_and_answered(fault_controller: tuple[Controller, str]) -> None:
    controller, path = fault_controller
    points = frozenset(controller.nemesis.points())
    assert cp.WORKER_AFTER_COUNT in points and cp.WORKER_AFTER_READ in points
    worker = agent.Agent(path, points)
    worker.reach(cp.WORKER_AFTER_COUNT, {"entry": "1-0", "index": 0})
    started = time.monotonic()
    worker.reach(cp.WORKER_AFTER_COUNT, {"entry": "2-0", "index": 1})  # 2nd arrival: slow
    assert time.monotonic() - started >= 0.03
    with pytest.raises(agent.InjectedFault, match=r"worker\.after_count"):
        worker.reach(cp.WORKER_AFTER_COUNT, {"entry": "4-0", "index": 3})  # task filter
    fired = [str(f.fault) for f in controller.nemesis.fired]
    assert fired == ["worker.after_count#2:slow=30", "worker.after_count@3#1:raise"]


def test_commit_triggers_count_only_accepted_commits(
    fault_controller: tuple[Controller, str],
) -> None:
    controller, _ = fault_controller
    nemesis = controller.nemesis
    context = {"entries": ["1-0"], "indexes": [0], "accepted": False, "reason": "not-owner"}
    assert nemesis.arrive(cp.WORKER_AFTER_COMMIT, context, 10, "worker")["do"] == "continue"
    context["accepted"] = True
    assert nemesis.arrive(cp.WORKER_AFTER_COMMIT, context, 10, "worker")["do"] == "continue"
    reply = nemesis.arrive(cp.WORKER_AFTER_COMMIT, context, 11, "worker")
    assert reply == {"do": "crash", "code": agent.CRASH_EXIT_CODE}
    assert 11 in nemesis.faulted
    kinds = [(op.type, op.f) for op in nemesis.history if op.process.startswith("worker")]
    assert kinds == [("fail", "commit"), ("ok", "commit"), ("ok", "commit")]


def test_a_process_that_dies_mid_commit_leaves_an_info_op() -> None:
    nemesis = make_nemesis()
    nemesis.arrive(cp.WORKER_BEFORE_COMMIT, {"entries": ["1-0"], "indexes": [0]}, 7, "worker")
    nemesis.exited(7, "worker")
    ops = [(op.type, op.f) for op in nemesis.history]
    assert ops == [("invoke", "commit"), ("info", "commit"), ("info", "exit")]


def test_the_controller_sees_a_connection_end_as_an_exit(
    fault_controller: tuple[Controller, str],
) -> None:
    controller, path = fault_controller
    worker = agent.Agent(path, frozenset(controller.nemesis.points()))
    worker.reach(cp.WORKER_AFTER_READ, {"entry": "1-0", "index": 0})
    worker.close()
    deadline = time.monotonic() + 5
    while not controller.nemesis.history.select("exit") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert controller.nemesis.history.select("exit")


def test_unreported_points_cost_no_round_trip(tmp_path: Path) -> None:
    quiet = agent.Agent(str(tmp_path / "nobody.sock"), frozenset({cp.WORKER_AFTER_READ}))
    quiet.reach(cp.WORKER_AFTER_COUNT, {})
    assert quiet._sock is None


def test_the_agent_fails_open_without_a_controller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lonely = agent.Agent(str(tmp_path / "gone.sock"), frozenset({cp.WORKER_AFTER_READ}))
    lonely.reach(cp.WORKER_AFTER_READ, {})
    lonely.reach(cp.WORKER_AFTER_READ, {})
    assert capsys.readouterr().err.count("unreachable") == 1


def test_install_needs_a_controller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(agent.CONTROLLER_ENV, raising=False)
    assert agent.install() is None
    monkeypatch.setenv(agent.CONTROLLER_ENV, "/nowhere.sock")
    monkeypatch.setenv(agent.POINTS_ENV, "worker.after_read,driver.bootstrap")
    assert agent.install() is not None
