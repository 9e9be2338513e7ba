"""The ``faults`` command as a user runs it: exit statuses, messages, ``--repeat``.

Each case starts ``python -m faults`` as a subprocess against real Redis servers (local
processes: the command makes its own), so what is checked is what a person replaying a
saved failure sees.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "tests" / "scenarios" / "worker-crash-before-commit.json"


def _faults(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faults", *args],
        cwd=REPO, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_replay_repeats_a_valid_scenario_and_exits_0() -> None:
    proc = _faults("replay", str(SCENARIO), "--backend", "process", "--repeat", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("VALID: scenario worker-crash-before-commit")
    assert "run 2 of at most 2: valid" in proc.stderr


@pytest.mark.slow
def test_replay_against_a_buggy_engine_exits_1_at_the_first_failure() -> None:
    proc = _faults("replay", str(SCENARIO), "--backend", "process", "--repeat", "5",
                   "--engine", "faults.buggy:count_then_ack")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("INVALID: ")
    assert "run " in proc.stderr and ": invalid" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "no-such.json"], "cannot read scenario no-such.json"),
        (["run", "--fault", "worker.after_nowhere:crash"], "unknown crash point"),
        (["replay", str(SCENARIO), "--engine", "nomodule:factory"], "cannot import"),
        (["soak", "--minutes", "0"], "--minutes 0: give a positive number of minutes"),
        (["soak", "--minutes", "1", "--jobs", "0"], "--jobs 0"),
        (["soak", "--minutes", "1", "--engine", "nomodule:factory"], "cannot import"),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(args: list[str], message: str) -> None:
    proc = _faults(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
