"""A driver forked by the fork server (faults/forkserver.py) is the process a fresh
``python -m MODULE`` would be: its own session, its arguments, working directory and
environment, output in the log, stdin empty, the exit status a fresh interpreter gives,
and a real process of its own that a signal kills without touching the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from faults import zygote
from faults.checker import check
from faults.runner import run_scenario
from faults.scenario import Dataset, Fault, Generated, Scenario

PROBE = (
    "import os, sys; print('sid', os.getsid(0) == os.getpid(), 'cwd', os.getcwd(), "
    "'env', os.environ.get('PROBE_VALUE'), 'stdin', repr(sys.stdin.read()), "
    "'argv', sys.argv[1:], 'main', __name__, flush=True)"
)


def timeit_argv(setup: str) -> list[str]:
    """``python -m timeit`` runs ``-s SETUP`` before timing: a stdlib module that runs code."""
    return [sys.executable, "-m", "timeit", "-n", "1", "-r", "1", "-s", setup, "pass"]


def test_the_child_is_what_a_fresh_interpreter_would_be(tmp_path: Path) -> None:
    """Same output, line for line, as ``subprocess.Popen`` with a new session."""
    env = {**os.environ, "PROBE_VALUE": "from-the-request"}
    with open(tmp_path / "direct", "ab") as log:
        direct = subprocess.run(timeit_argv(PROBE), env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    proc = zygote.spawn(timeit_argv(PROBE), env, tmp_path / "served", str(tmp_path))
    assert (proc.wait(60), direct.returncode) == (0, 0)
    served, expected = (tmp_path / "served").read_text(), (tmp_path / "direct").read_text()
    assert f"sid True cwd {tmp_path} env from-the-request stdin ''" in served, served
    first = served.splitlines()[0]
    assert first == expected.splitlines()[0], (served, expected)
    assert proc.pid != zygote.server_pid()


def test_exit_statuses_are_those_of_a_fresh_interpreter(tmp_path: Path) -> None:
    cases = {
        "raise SystemExit(7)": 1,  # timeit catches it and fails with 1, as it would anyway
        "import os; os._exit(5)": 5,
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)": -signal.SIGKILL,
    }
    for code, expected in cases.items():
        direct = subprocess.run(timeit_argv(code), cwd=tmp_path, capture_output=True)
        served = zygote.spawn(timeit_argv(code), dict(os.environ), tmp_path / "log", str(tmp_path))
        assert (served.wait(60), direct.returncode) == (expected, expected), code


def test_a_killed_driver_leaves_the_server_running(tmp_path: Path) -> None:
    proc = zygote.spawn(timeit_argv("import time; time.sleep(60)"), dict(os.environ),
                        tmp_path / "log", str(tmp_path))  # fmt: skip
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL
    assert zygote.server_pid() is not None
    again = zygote.spawn(timeit_argv("pass"), dict(os.environ), tmp_path / "log", str(tmp_path))
    assert again.wait(60) == 0


def test_atexit_hooks_and_threads_end_as_in_a_fresh_interpreter(tmp_path: Path) -> None:
    setup = (
        "import atexit, threading, time; "
        "atexit.register(lambda: print('atexit ran', flush=True)); "
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True)))"
        ".start()"
    )
    proc = zygote.spawn(timeit_argv(setup), dict(os.environ), tmp_path / "log", str(tmp_path))
    assert proc.wait(60) == 0
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines.index("thread done") < lines.index("atexit ran"), lines


def driver_crash_scenario() -> Scenario:
    return Scenario(
        name="driver-crash",
        workers=2,
        dataset=Dataset(generated=Generated(seed=5, files=3, words=200)),
        faults=(Fault.parse("driver.bootstrap#1:crash"),),
        timeout_s=120,
    )


@pytest.mark.parametrize("start", ["fork", "exec"])
def test_a_driver_crash_kills_a_real_driver_either_way(
    start: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash fault ends the driver's own process (not the server), the runner starts
    another, and the job is counted exactly: with the fork server and without it."""
    monkeypatch.setenv(zygote.START_ENV, start)
    outcome = run_scenario(driver_crash_scenario(), "process")
    assert check(outcome).status == "valid"
    assert len(outcome.drivers) == 2 and outcome.drivers[0].exit_code != 0
    assert zygote.server_pid() not in {d.pid for d in outcome.drivers}
