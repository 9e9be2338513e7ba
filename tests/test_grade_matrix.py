"""The whole grading matrix: every fixture of ``tests/submissions`` on every property at
the ``ci`` profile, as a course would grade a folder. It takes tens of minutes on two
cores (about 3 minutes per submission), so it runs only with ``FAULTS_GRADE_FULL=1``;
the default suite grades each fixture on the property that matters
(``tests/test_grade_fixtures.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.grade_helpers import ENGINE, LAB, SUBMISSIONS, grade, skip_on_docker_backend

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("FAULTS_GRADE_FULL") != "1",
        reason="the full grading matrix takes tens of minutes: FAULTS_GRADE_FULL=1 runs it",
    ),
]

EXPECTED = {
    "correct": 0,
    "hardcoded_localhost": 0,
    "count_then_ack": 1,
    "no_steal": 1,
    "ignore_xack_result": 1,
    "quit_on_empty_read": 1,
    "ack_before_count": 1,
    "nonidempotent_bootstrap": 1,
    "never_exits": 1,
    "exits_1": 2,
}


@pytest.fixture(autouse=True)
def _process_backend_only(request: pytest.FixtureRequest) -> None:
    skip_on_docker_backend(request.config)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_graded_on_every_property(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fixture: str
) -> None:
    extra = ["--redis-port", "6379", "--redis-password", "pass"] if "hardcoded" in fixture else []
    code, out = grade(capsys, SUBMISSIONS / fixture, *LAB, *extra, "--save-dir", tmp_path,
                      "--junit", tmp_path / "junit.xml")  # fmt: skip
    print(out)
    assert code == EXPECTED[fixture], out


def test_engine_graded_on_every_property(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = grade(capsys, SUBMISSIONS / "engine", *ENGINE, "--save-dir", tmp_path)
    assert code == 0, out
