"""``faults soak``: a short soak on real Redis runs scenarios, prints its table and exits
by the verdicts; the tally and the rule for explained unknowns on hand-made results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from faults.nemesis import FiredFault
from faults.outcome import DriverRun
from faults.scenario import Fault
from faults.soak import Result, Tally, explain_unknown

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_short_soak_runs_scenarios_and_prints_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "FAULTS_FAILURES_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "faults", "soak", "--minutes", "0.3", "--seed", "7", "--jobs", "1",
         "--backend", "process"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.startswith("soak: 0.3 min, 1 job(s), backend process, engine the real one, seed 7")
    match = re.search(r"\] (\d+) scenarios: (\d+) valid, 0 invalid, 0 unknown", out)
    assert match and int(match[1]) == int(match[2]) >= 1, out
    row = re.search(r"\| all scenarios +\| +(\d+) \| +(\d+) \|", out)
    assert row and row[1] == match[1], out
    assert "| point driver.bootstrap" in out


def _result(status: str, kinds: tuple[str, ...] = (), explained: str | None = None) -> Result:
    return Result(0, "any-faults", status, explained, kinds, ("worker.after_read",), 1.0,
                  ("why",), "python -m faults replay x.json --backend process")  # fmt: skip


def test_the_tally_counts_per_kind_and_point() -> None:
    tally = Tally()
    tally.add(_result("valid"))
    tally.add(_result("invalid", ("crash", "redis-kill")))
    tally.add(_result("unknown", ("redis-wipe",), explained="lost after the end"))
    assert tally.totals() == {"valid": 1, "invalid": 1, "explained": 1}
    assert tally.by_kind["crash"]["invalid"] == 1 and tally.by_kind["(no fault fired)"]["valid"]
    assert tally.by_point["worker.after_read"] == {"valid": 1, "invalid": 1, "explained": 1}
    assert "3 scenarios: 1 valid, 1 invalid, 1 unknown (1 explained)" in tally.line(60.0)


def test_only_data_lost_after_a_clean_end_explains_an_unknown() -> None:
    lost = SimpleNamespace(problems=("Redis has no trace of the job at the end: ...",))
    wipe = FiredFault(0, Fault.parse("commit#2:redis-wipe"), "worker-1", "x", {}, 2.0, 2.0)
    crash = FiredFault(0, Fault.parse("commit#2:crash"), "worker-1", "x", {}, 2.0, 2.0)
    ended = [DriverRun(1, 0.0, 2.5, 0)]
    assert explain_unknown(SimpleNamespace(fired=[wipe], drivers=ended), lost)
    assert not explain_unknown(SimpleNamespace(fired=[crash], drivers=ended), lost)
    assert not explain_unknown(SimpleNamespace(fired=[wipe], drivers=[]), lost)
    timeout = SimpleNamespace(problems=("timeout: the job did not finish within 90 s",))
    assert not explain_unknown(SimpleNamespace(fired=[wipe], drivers=ended), timeout)
