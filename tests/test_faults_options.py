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
