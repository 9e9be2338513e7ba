"""A pytest plugin: ``--engine MODULE:FACTORY``, the engine implementation under test.

Precedence (:mod:`faults.pytest_options`): the option, then ``$WORDCOUNT_ENGINE``, then
the ``wordcount_engine`` ini value, then the project's own engine. The spec is loaded and its
contract checked once, at start-up, so a typo stops the run with the loader's message
instead of failing every scenario. Tests get it from the ``engine_under_test`` fixture
(``None`` means the default engine) and pass it to the runner, which hands it to the
driver as ``--engine``.
"""

from __future__ import annotations

import pytest

from engine.errors import WordCountError
from engine.plugins import ENGINE_ENV, load_engine
from faults.pytest_options import Setting, pick

OPTION = "--engine"
INI = "wordcount_engine"
SETTING = Setting(OPTION, ENGINE_ENV, INI)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wordcount")
    group.addoption(
        OPTION, default=None, metavar="MODULE:FACTORY",
        help=f"engine under test, e.g. faults.buggy:ignore_ack_result (default: ${ENGINE_ENV}, "
        f"else the '{INI}' ini value, else the project's engine)",
    )  # fmt: skip
    parser.addini(INI, f"engine under test when neither {OPTION} nor ${ENGINE_ENV} is given")


def engine_spec(config: pytest.Config) -> str | None:
    return pick(config, SETTING)


def pytest_configure(config: pytest.Config) -> None:
    spec = engine_spec(config)
    if spec is None:
        return
    try:
        load_engine(spec)
    except WordCountError as exc:
        raise pytest.UsageError(f"{exc} (engine under test, from {SETTING.sources()})") from None


def pytest_report_header(config: pytest.Config) -> str | None:
    spec = engine_spec(config)
    return f"engine under test: {spec}" if spec else None


@pytest.fixture(scope="session")
def engine_under_test(pytestconfig: pytest.Config) -> str | None:
    """The ``MODULE:FACTORY`` of the engine under test, or ``None`` for the project's."""
    return engine_spec(pytestconfig)
