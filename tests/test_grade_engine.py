"""``faults grade`` beyond the lab fixtures: this project's own engine driven black-box
through ``--cmd``/``--env`` templates, and submissions that hard-code
``localhost:6379`` graded side by side, each run in a network namespace of its own."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from faults.grade import netns
from faults.grade.cli import replay_file
from tests.grade_helpers import ENGINE, LAB, SUBMISSIONS, grade, skip_on_docker_backend

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _process_backend_only(request: pytest.FixtureRequest) -> None:
    skip_on_docker_backend(request.config)


def test_the_engine_passes_black_box(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = grade(capsys, SUBMISSIONS / "engine", *ENGINE, "--only", "worker-crash",
                      "--save-dir", tmp_path)  # fmt: skip
    assert code == 0, out
    assert "PASS  worker crashes: 15 examples" in out, out


@pytest.mark.skipif(not netns.available(), reason="network namespaces need root and `ip`")
def test_hardcoded_localhost_runs_in_parallel_namespaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two runs at once, both on localhost:6379 with password ``pass``, each with a worker
    killed right after its first read: both must finish with exact counts."""
    options = {
        "configs": [["config.json", (SUBMISSIONS / "config.template.json").read_text()]],
        "redis_port": 6379,
        "redis_password": "pass",
        "claim_timeout_ms": 500,
        "exit_within_s": 10,
    }
    example = {
        "prop": "worker-crash",
        "files": ["a b b", "c d", "e"],
        "workers": 2,
        "faults": [{"at": "worker#1.after:XREADGROUP#1", "do": "crash", "ms": 0}],
    }
    scenario = tmp_path / "hardcoded.json"
    scenario.write_text(json.dumps({"kind": "faults-grade", "options": options,
                                    "submission": str(SUBMISSIONS / "hardcoded_localhost"),
                                    "example": example}))  # fmt: skip
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(replay_file(str(scenario))))
               for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out = capsys.readouterr().out
    assert codes == [0, 0], out


def test_hardcoded_localhost_without_its_port_cannot_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = grade(capsys, SUBMISSIONS / "hardcoded_localhost", *LAB, "--isolate", "netns",
                      "--exit-within", "3", "--save-dir", tmp_path)  # fmt: skip
    assert code == 2, out
    assert "never reached the grader's Redis" in out, out
