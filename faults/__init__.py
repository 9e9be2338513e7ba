"""Fault injection for the word count, after Jepsen's roles, at this project's size.

- :mod:`faults.scenario`: scenarios as data (dataset, settings, faults) with exact JSON;
- :mod:`faults.generate`: scenarios from a seed (a pure function), for later properties;
- :mod:`faults.db`: the database: the Redis node, its harm, its atomic reads;
- :mod:`faults.client`: the client: the real driver subprocess and its workers;
- :mod:`faults.nemesis` and :mod:`faults.controller`: the fault controller, which engine
  processes consult at every crash point through :mod:`faults.agent`;
- :mod:`faults.history`: every operation as data (invoke / ok / fail / info);
- :mod:`faults.runner`: ``run_scenario(scenario, node) -> Outcome``;
- :mod:`faults.checker`: ``check(outcome) -> Verdict`` (valid / invalid / unknown);
- :mod:`faults.cli`: the ``faults`` command (``replay``, ``run``).
"""

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

__all__ = [
    "Action",
    "Dataset",
    "Expect",
    "Fault",
    "FaultsError",
    "FileSpec",
    "Generated",
    "History",
    "Op",
    "Outcome",
    "RunnerError",
    "Scenario",
    "ScenarioError",
    "Settings",
    "Trigger",
    "Verdict",
    "WordDiff",
    "check",
    "generate_scenario",
    "run_scenario",
]
