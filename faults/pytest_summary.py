"""A pytest plugin: the fault-injection summary at the end of a test run.

Registered by the repository's ``conftest.py``. Each process that runs tests fills its own
:data:`faults.ledger.LEDGER`; under xdist, workers hand theirs to the controller through
``workeroutput`` when they finish, and the controller prints the merged summary (and writes
it to ``.faults/summary.json`` for CI to keep). A run with no scenario prints nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from faults.ledger import LEDGER, Ledger

_WORKER_KEY = "faults_ledger"
_merged = Ledger()
_started = time.monotonic()
SUMMARY_FILE = Path(".faults") / "summary.json"


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.monotonic()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the ledger to the controller
        workeroutput[_WORKER_KEY] = LEDGER.to_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: a worker finished; take its ledger."""
    text = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if text:
        _merged.merge(Ledger.from_json(text))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if hasattr(config, "workeroutput"):
        return
    ledger = Ledger()
    ledger.merge(_merged)
    ledger.merge(LEDGER)
    if not ledger.scenarios:
        return
    wall_s = time.monotonic() - _started
    terminalreporter.write_sep("=", "fault-injection summary")
    for line in ledger.render(wall_s):
        terminalreporter.write_line(line)
    path = Path(str(config.rootpath)) / SUMMARY_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**json.loads(ledger.to_json()), "wall_s": round(wall_s, 2),
                "unreached": ledger.unreached(), "uncovered": ledger.uncovered()}  # fmt: skip
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        terminalreporter.write_line(f"(could not write {path}: {exc})")
