"""One rule for the suite's settings: command-line option, then environment variable, then
ini value, then the default. The backend and engine plugins both read theirs through
:func:`pick`, so the precedence and the error that names a bad value's source are written
once. (``engine.plugins.engine_spec`` keeps the engine's own, shorter rule: argument, then
environment; the engine cannot depend on the test suite.)
"""

from __future__ import annotations

import dataclasses
import os

import pytest


@dataclasses.dataclass(frozen=True)
class Setting:
    """Where one setting can come from."""

    option: str
    env: str
    ini: str

    def sources(self) -> str:
        """The three places, as an error message names them."""
        return f"{self.option}, ${self.env} or the '{self.ini}' ini value"


def pick(
    config: pytest.Config,
    setting: Setting,
    default: str | None = None,
    choices: tuple[str, ...] | None = None,
) -> str | None:
    """The first non-empty of option, environment and ini value, else ``default``; a value
    outside ``choices`` stops the run with a usage error that says where to change it."""
    value = (
        config.getoption(setting.option)
        or os.environ.get(setting.env, "").strip()
        or str(config.getini(setting.ini) or "").strip()
        or default
    )
    if value is not None and choices is not None and value not in choices:
        raise pytest.UsageError(
            f"{setting.option.lstrip('-')} {value!r} (from {setting.sources()}) is not one "
            f"of {', '.join(choices)}: use one of them"
        )
    return value
