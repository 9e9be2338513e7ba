"""One rule for the suite's settings: option, then environment, then ini, then default."""

from __future__ import annotations

from typing import Any

import pytest

from faults.pytest_options import Setting, pick

SETTING = Setting("--thing", "FAULTS_TEST_THING", "thing")


class _Config:
    def __init__(self, option: str | None, ini: str) -> None:
        self.option, self.ini = option, ini

    def getoption(self, name: str) -> Any:
        assert name == SETTING.option
        return self.option

    def getini(self, name: str) -> Any:
        assert name == SETTING.ini
        return self.ini


@pytest.mark.parametrize(
    ("option", "env", "ini", "expected"),
    [
        ("a", "b", "c", "a"),
        (None, "b", "c", "b"),
        (None, " ", "c", "c"),
        (None, "", "", "default"),
    ],
)
def test_option_then_environment_then_ini_then_default(
    option: str | None, env: str, ini: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTING.env, env)
    assert pick(_Config(option, ini), SETTING, "default") == expected  # type: ignore[arg-type]


def test_a_bad_value_names_where_it_can_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SETTING.env, "zz")
    with pytest.raises(pytest.UsageError, match=r"thing 'zz' \(from --thing, \$FAULTS_TEST_THING"):
        pick(_Config(None, ""), SETTING, "a", ("a", "b"))  # type: ignore[arg-type]


def test_backend_tests_only_keeps_just_the_tests_that_use_a_backend() -> None:
    """scripts/test's second backend run: a test with no Redis fixture ran in the first."""
    import subprocess
    import sys

    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--redis-backend", "process", "--backend-tests-only",
         "tests/test_faults_options.py", "tests/test_heartbeat.py"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    ids = [line for line in listed.stdout.splitlines() if "::" in line]
    assert ids and all(i.startswith("tests/test_heartbeat.py::") for i in ids), listed.stdout


def test_backend_tests_only_leaves_out_the_suites_power_tests() -> None:
    """Tests marked ``once`` (buggy variants caught) use a backend yet run once: the
    first run has them, the second backend's run does not."""
    import subprocess
    import sys

    def listed(*extra: str) -> list[str]:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             "--redis-backend", "process", *extra, "tests/test_buggy_variants.py"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return [line for line in out.stdout.splitlines() if "::" in line]

    assert any("test_variant_fails_its_scenario" in i for i in listed())
    assert listed("--backend-tests-only") == []
