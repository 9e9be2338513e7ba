"""Every hand-written scenario under tests/scenarios/ replayed on each Redis backend.

Each must be VALID against the real engine, every fault in it must actually fire (a
scenario whose trigger is never reached tests nothing), and a few carry an extra check
of the path they are about, read from the history.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.nodes.base import RedisNode
from faults import history as h
from faults import scenario_json
from faults.agent import CRASH_EXIT_CODE
from faults.checker import check
from faults.outcome import Outcome
from faults.report import counted_again, render
from faults.runner import run_scenario

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.json"))
SCENARIO_PARAMS = [pytest.param(path, id=path.stem) for path in SCENARIOS]
BACKENDS = [
    pytest.param("process", id="process"),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


def _commit_refused(outcome: Outcome, task: int) -> None:
    refused = [
        op for op in outcome.history.select(h.COMMIT, "fail")
        if op.value.get("reason") == "not-owner" and task in op.value.get("indexes", [])
    ]  # fmt: skip
    assert refused, f"no refused commit of task {task} in the history"


def _straggler_killed(outcome: Outcome) -> None:
    assert outcome.history.select("kill-straggler"), "the hung worker was never killed"


def _driver_restarted(outcome: Outcome) -> None:
    codes = [run.exit_code for run in outcome.drivers]
    assert codes == [CRASH_EXIT_CODE, 0], f"driver exit codes {codes}"


def _bootstrapped_twice(outcome: Outcome) -> None:
    first_batches = [op for op in outcome.history.select(h.BOOTSTRAP) if op.value["added"] == 2]
    assert len(first_batches) == 2, "the bootstrap did not start over after the data loss"


def _lost_everything(outcome: Outcome) -> None:
    """The job vanished with Redis' data: the driver had to bootstrap it again. (What the
    nemesis read after the restart may already show the new job: the driver can be
    quicker than that read.)"""
    (restart,) = [op for op in outcome.history if op.process == "nemesis" and op.type == "invoke"]
    again = [op for op in outcome.history.select(h.BOOTSTRAP) if op.index > restart.index]
    assert again, "the job was not bootstrapped again after Redis lost its data"


def _kept_first_commit(outcome: Outcome) -> None:
    first = outcome.history.select(h.COMMIT, "ok")[0]
    (restart,) = [op for op in outcome.history if "done_after" in op.value]
    assert set(first.value["entries"]) <= set(restart.value["done_after"])


def _different_victims(outcome: Outcome) -> None:
    assert len({fired.process for fired in outcome.fired}) == 2


def _split_into_ranges(outcome: Outcome) -> None:
    """The engine made the byte-range tasks the scenario's checks were indexed by."""
    job = outcome.final.job if outcome.final else None
    n_files = len(outcome.scenario.dataset.names())
    assert job is not None and int(job["n_tasks"]) == outcome.scenario.n_tasks() > n_files


def _links_hit(outcome: Outcome) -> None:
    """Each network fault found connections of its process at the proxy to cut or slow."""
    done = [op for op in outcome.history if op.process == "nemesis" and op.f.startswith("net-")]
    assert done and all(op.value["ports"] for op in done), [op.value for op in done]


def _cut_off_commit_refused(outcome: Outcome) -> None:
    """Task 2 is committed once either way. Stolen and committed by another worker while
    its holder was cut off (the usual path), the holder's late commit is refused and the
    report counts the task as recomputed; on a machine too loaded for anyone to steal it
    within the cut, the holder's own commit is accepted after the link came back."""
    _links_hit(outcome)
    (fired,) = outcome.fired
    accepted = [op for op in outcome.history.select(h.COMMIT, "ok")
                if 2 in op.value.get("indexes", [])]  # fmt: skip
    assert len(accepted) == 1, accepted
    if accepted[0].process != fired.process:
        _commit_refused(outcome, 2)
        assert counted_again(outcome).get(2, 0) >= 2, counted_again(outcome)
    else:
        assert accepted[0].time >= fired.time + fired.fault.action.ms / 1000, (accepted, fired)


EXTRA: dict[str, Callable[[Outcome], None]] = {
    "straggler-commit-refused": lambda outcome: _commit_refused(outcome, 0),
    "straggler-hang": _straggler_killed,
    "driver-crash-mid-bootstrap": _driver_restarted,
    "driver-crash-before-result": _driver_restarted,
    "redis-kill-mid-bootstrap": _bootstrapped_twice,
    "redis-kill-no-persistence": _lost_everything,
    "redis-wipe-mid-job": _lost_everything,
    "redis-wipe-after-commit-worker-lives": _lost_everything,
    "redis-kill-aof-always": _kept_first_commit,
    "two-workers-crash-same-task": _different_victims,
    "chunked-worker-crash": _split_into_ranges,
    "net-cut-worker-past-claim": _cut_off_commit_refused,
    "net-drop-before-commit": _links_hit,
    "net-slow-worker-link": _links_hit,
    "net-cut-driver-mid-bootstrap": _links_hit,
    "net-lose-replies-at-commit": _links_hit,
}


def test_every_scenario_file_is_listed() -> None:
    assert len(SCENARIOS) >= 18
    assert set(EXTRA) <= {path.stem for path in SCENARIOS}


@pytest.mark.slow
@pytest.mark.parametrize("redis_backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("path", SCENARIO_PARAMS)
def test_scenario_is_valid(
    path: Path, redis_backend: str, redis_node_factory: Callable[..., RedisNode]
) -> None:
    scenario = scenario_json.load(path.read_text(encoding="utf-8"))
    if scenario.settings.embedded and redis_backend != "process":
        pytest.skip("an embedded scenario runs the driver's own Redis, whatever the backend")
    node = redis_node_factory(start=False, persistence=scenario.settings.persistence_spec())
    outcome = run_scenario(scenario, node)
    verdict = check(outcome)
    report = render(outcome, verdict)
    assert verdict.status == "valid", report
    assert not outcome.not_fired(), report
    assert outcome.backend == ("embedded" if scenario.settings.embedded else redis_backend)
    extra = EXTRA.get(scenario.name)
    if extra is not None:
        extra(outcome)
