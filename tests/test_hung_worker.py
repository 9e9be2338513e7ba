"""A job whose only worker hangs for ever still finishes (issue 12, item 2).

The driver notices a task that stays stealable with nobody stealing it, starts a
replacement worker and kills the hung one (engine/watchdog.py). Before, the job waited
for ever: nobody was left to steal the task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis

from engine.crashpoints import HOOK_ENV
from engine.inputs import expand_inputs
from engine.keys import JobKeys
from engine.results import read_counts
from engine.serial import count_tasks
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer
from faults.checker import check
from faults.report import render
from faults.runner import run_scenario
from faults.scenario import Action, Dataset, Fault, Generated, Scenario, Trigger

TESTS_DIR = Path(__file__).resolve().parent
DRIVER_TIMEOUT_S = 120
"""Generous: the fixed engine finishes in a few seconds; the old one never did."""


def test_the_only_worker_hung_in_a_crash_point(redis_backend: str) -> None:
    """``faults run --workers 1 --fault 'worker.after_count#1:hang'``."""
    scenario = Scenario(
        name="only-worker-hangs",
        dataset=Dataset(generated=Generated(seed=12, files=3, words=300, vocabulary=50)),
        workers=1,
        faults=(Fault(Trigger("worker.after_count", 1), Action("hang")),),
    )
    outcome = run_scenario(scenario, redis_backend)
    verdict = check(outcome)
    assert verdict.status == "valid", render(outcome, verdict)


def test_the_only_worker_stopped_from_outside(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, job_id: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        (inputs / f"f{i}.txt").write_text(f"alpha beta w{i}\n" * 50)
    marker = tmp_path / "stopped.pid"
    env = {
        **os.environ,
        HOOK_ENV: "stop_hook:install",
        "STOP_HOOK_MARKER": str(marker),
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        URL_ENV: redis_url,
    }
    cmd = [sys.executable, "-m", "engine", "run", str(inputs), "--workers", "1",
           "--job", job_id, "--claim-timeout", "300ms", "--no-progress"]  # fmt: skip
    driver = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        code = driver.wait(timeout=DRIVER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        stopped = int(marker.read_text() or 0) if marker.exists() else 0
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)  # the driver and its workers, if left
        driver.wait()
    assert stopped, "no worker was stopped: the test did not test anything"
    assert code == 0, f"the driver did not finish within {DRIVER_TIMEOUT_S} s (exit {code})"
    assert not _alive(stopped), f"the stopped worker {stopped} was left running"
    expected = count_tasks(expand_inputs([str(inputs)]), Tokenizer())
    assert read_counts(redis_client, JobKeys(job_id)) == expected


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
