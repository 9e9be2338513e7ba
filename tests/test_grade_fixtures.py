"""``faults grade`` on the lab-style fixtures of ``tests/submissions``, for real: a Redis
server per run, the fixtures' own processes, faults at protocol points, Hypothesis at the
``ci`` profile.

The default suite grades each buggy fixture on the property that catches its bug (with
``--fail-fast`` and a short shrink budget) and the correct one on two properties; the
whole matrix, every fixture on every property, is ``tests/test_grade_matrix.py``
(``FAULTS_GRADE_FULL=1``), because it takes tens of minutes on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.cli import main as faults_main
from faults.grade import netns
from tests.grade_helpers import LAB, SUBMISSIONS, grade, skip_on_docker_backend

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _process_backend_only(request: pytest.FixtureRequest) -> None:
    skip_on_docker_backend(request.config)


CAUGHT = [
    ("count_then_ack", "worker-crash", "so another worker counted it again"),
    ("no_steal", "worker-crash", "did not exit"),
    ("ignore_xack_result", "straggler", "only when XACK returns 1"),
    ("quit_on_empty_read", "worker-crash", "an empty read does not mean the job is done"),
    ("ack_before_count", "worker-crash", "acknowledged before its counts were added"),
    ("nonidempotent_bootstrap", "bootstrap", "the bootstrap is not idempotent"),
]


@pytest.mark.parametrize(("fixture", "prop", "words"), CAUGHT, ids=[c[0] for c in CAUGHT])
def test_each_buggy_fixture_is_caught_with_a_readable_counterexample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fixture: str, prop: str, words: str
) -> None:
    code, out = grade(capsys, SUBMISSIONS / fixture, *LAB, "--only", prop, "--fail-fast",
                      "--shrink-seconds", "10", "--save-dir", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "FAIL" in out and words in out, out
    saved = tmp_path / f"{fixture}-{prop}.json"
    assert f"replay: faults replay {saved}" in out, out


def test_the_sampler_sees_a_non_atomic_commit_without_faults(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With --stream/--group, counts that run ahead of their acknowledgement are caught on
    fault-free runs (the termination property draws no fault)."""
    code, out = grade(capsys, SUBMISSIONS / "count_then_ack", *LAB, "--stream", "files",
                      "--group", "workers", "--only", "termination", "--fail-fast",
                      "--shrink-seconds", "5", "--save-dir", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "not those of the acknowledged files" in out and "no fault fired" in out, out


def test_the_correct_fixture_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = grade(capsys, SUBMISSIONS / "correct", *LAB, "--only", "worker-crash",
                      "--only", "bootstrap", "--stream", "files", "--group", "workers",
                      "--exit-within", "20", "--save-dir", tmp_path)  # fmt: skip
    assert code == 0, out
    assert out.count("PASS") == 3, out  # the submission and its two properties


def test_a_saved_counterexample_replays(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A hand-written schedule: a worker killed right after it acknowledged its file."""
    scenario = tmp_path / "lost.json"
    options = {
        "cmd": "python client.py",
        "configs": [["config.json", (SUBMISSIONS / "config.template.json").read_text()]],
        "claim_timeout_ms": 500,
        "exit_within_s": 6,
    }
    example = {
        "prop": "worker-crash",
        "files": ["a b", "c"],
        "workers": 2,
        "faults": [{"at": "worker#1.after:XACK#1", "do": "crash", "ms": 0}],
    }
    submission = str(SUBMISSIONS / "ack_before_count")
    scenario.write_text(json.dumps({"kind": "faults-grade", "submission": submission,
                                    "options": options, "example": example}))  # fmt: skip
    # `faults replay` knows grading scenarios; up to 5 runs, as for any timing failure:
    # the crash needs worker #1 to get a file, and a CI run once gave both to worker #2
    code = faults_main(["replay", str(scenario), "--repeat", "5"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "was never counted" in out, out
    code, out = grade(capsys, "--replay", scenario, SUBMISSIONS / "correct")
    assert code == 0, out


def test_exits_1_cannot_be_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = grade(capsys, SUBMISSIONS / "exits_1", *LAB, "--save-dir", tmp_path)
    assert code == 2, out
    assert "exits with status 1 with no fault injected" in out, out


def test_never_exits_fails_termination(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = grade(capsys, SUBMISSIONS / "never_exits", *LAB, "--exit-within", "3",
                      "--save-dir", tmp_path)  # fmt: skip
    assert code == 1, out
    assert "FAIL  termination" in out and "does not exit even without faults" in out, out
    assert "still running at the deadline: client" in out, out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([*LAB, "--cmd", "python missing.py"], "no such command or file"),
        ([*LAB, "--counts-key", "counts"], "no counts under --counts-key 'counts' (it made count)"),
        # its own config.json: localhost:6379, inside a namespace where nothing listens
        pytest.param(
            ["--isolate", "netns", "--exit-within", "3"],
            "never reached the grader's Redis",
            marks=pytest.mark.skipif(not netns.available(), reason="needs root and `ip`"),
        ),
    ],
    ids=["no-such-command", "wrong-key", "no-address"],
)
def test_a_submission_that_cannot_run_says_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], reason: str
) -> None:
    code, out = grade(capsys, SUBMISSIONS / "correct", *args, "--save-dir", tmp_path)
    assert code == 2, out
    assert reason in out, out


def test_a_missing_password_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    template = tmp_path / "nopw.json"
    template.write_text(
        (SUBMISSIONS / "config.template.json").read_text().replace("{redis_password}", "")
    )
    code, out = grade(capsys, SUBMISSIONS / "correct", "--config", f"config.json={template}",
                      "--exit-within", "5", "--save-dir", tmp_path)  # fmt: skip
    assert code == 2, out
    assert "needs a Redis password it was not given" in out, out
