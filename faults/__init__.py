"""Fault injection for the word count, after Jepsen's roles, at this project's size.

The names below are re-exported lazily (PEP 562): the crash hook imports
:mod:`faults.agent` into every engine process, and importing this package must then
load nothing else. The modules, each with one job:

- :mod:`faults.kinds`: the fault-kind table (target, duration, data loss, handler, draw);
- :mod:`faults.files`, :mod:`faults.scenario`, :mod:`faults.scenario_json`: scenarios as
  data, and their exact JSON;
- :mod:`faults.generate` and :mod:`faults.strategies`: scenarios from a seed, and drawn
  by Hypothesis, from the shared choices of :mod:`faults.choices`;
- :mod:`faults.db`: the database: the Redis node, its harm, its atomic reads;
- :mod:`faults.client`: the client: the real driver subprocess and its workers;
- :mod:`faults.nemesis` and :mod:`faults.controller`: the fault controller, which engine
  processes consult at every crash point through :mod:`faults.agent`;
- :mod:`faults.history`: every operation as data (invoke / ok / fail / info);
- :mod:`faults.runner`: ``run_scenario(scenario, node) -> Outcome``;
- :mod:`faults.checker`: ``check(outcome) -> Verdict`` (valid / invalid / unknown);
- :mod:`faults.cli`: the ``faults`` command (``replay``, ``run``, ``soak``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faults.checker import Verdict, WordDiff, check
    from faults.errors import FaultsError, RunnerError, ScenarioError
    from faults.generate import generate_scenario
    from faults.history import History, Op
    from faults.outcome import Outcome
    from faults.runner import run_scenario
    from faults.scenario import (
        Action,
        Dataset,
        Expect,
        Fault,
        FileSpec,
        Generated,
        Scenario,
        Settings,
        Trigger,
    )

_HOMES = {
    "Verdict": "checker", "WordDiff": "checker", "check": "checker",
    "FaultsError": "errors", "RunnerError": "errors", "ScenarioError": "errors",
    "generate_scenario": "generate", "History": "history", "Op": "history",
    "Outcome": "outcome", "run_scenario": "runner",
    **{name: "scenario" for name in (
        "Action", "Dataset", "Expect", "Fault", "FileSpec", "Generated", "Scenario",
        "Settings", "Trigger",
    )},
}  # fmt: skip

__all__ = [
    "Action", "Dataset", "Expect", "Fault", "FaultsError", "FileSpec", "Generated",
    "History", "Op", "Outcome", "RunnerError", "Scenario", "ScenarioError", "Settings",
    "Trigger", "Verdict", "WordDiff", "check", "generate_scenario", "run_scenario",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import a re-exported name's module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'faults' has no attribute {name!r}")
    return getattr(importlib.import_module(f"faults.{home}"), name)
