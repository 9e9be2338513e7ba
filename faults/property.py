"""The suite's main property, as one call: run a scenario, judge it, explain a failure.

``holds(scenario, backend)`` runs the scenario against real Redis, checks it, and raises
:class:`ScenarioFailed` unless the verdict is ``valid``: the final counts equal the serial
count, every task is committed once, and the job finished. The failure message carries
everything a person needs: the report, the scenario as JSON, where it was saved (under
``.faults/failures/``) and the one command that replays it. Hypothesis re-runs the
shrunk example last, so the file left behind is the smallest failing scenario.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from pathlib import Path

from faults import scenario_json
from faults.checker import Verdict, check
from faults.ledger import LEDGER
from faults.outcome import Outcome
from faults.report import render
from faults.runner import run_scenario
from faults.scenario import Scenario

FAILURES_DIR = Path(".faults") / "failures"
FAILURES_ENV = "FAULTS_FAILURES_DIR"
"""Where failing scenarios are saved: this variable, else ``.faults/failures``."""


class ScenarioFailed(AssertionError):
    """A scenario whose verdict is not ``valid``; ``str()`` is the full explanation."""

    def __init__(self, message: str, outcome: Outcome, verdict: Verdict, path: Path | None):
        super().__init__(message)
        self.outcome = outcome
        self.verdict = verdict
        self.path = path


def run_and_check(
    scenario: Scenario, backend: str, *, engine: str | None = None
) -> tuple[Outcome, Verdict]:
    """Run on a fresh node of ``backend`` (closed afterwards) and judge the outcome."""
    outcome = run_scenario(scenario, backend, engine=engine)
    verdict = check(outcome)
    LEDGER.judged(verdict.status if engine is None else f"{verdict.status} for {engine}")
    return outcome, verdict


def holds(
    scenario: Scenario, backend: str, *, engine: str | None = None, label: str = "property"
) -> Outcome:
    """Assert the main property of ``scenario``; see the module docstring."""
    outcome, verdict = run_and_check(scenario, backend, engine=engine)
    if verdict.valid:
        return outcome
    path = save_failure(scenario, label, outcome)
    raise ScenarioFailed(explain(outcome, verdict, path, engine), outcome, verdict, path)


def save_failure(scenario: Scenario, label: str, outcome: Outcome | None = None) -> Path | None:
    """Write the scenario where a person can replay it; ``None`` if that is impossible.

    The name is the label and a digest of the scenario, so successive shrink steps leave
    distinct files and the last one written (the shrunk case) is also the newest. The
    run's history goes beside it (``.history.jsonl``).
    """
    text = scenario_json.dump(scenario)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label)[:80]
    directory = Path(os.environ.get(FAILURES_ENV) or FAILURES_DIR)
    path = directory / f"{safe}-{digest}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        latest = directory / f"{safe}-latest.json"
        latest.write_text(text, encoding="utf-8")
        if outcome is not None:  # what happened, op by op: replays may race differently
            history = outcome.history.dumps()
            path.with_suffix(".history.jsonl").write_text(history, encoding="utf-8")
    except OSError:
        return None
    return path


def replay_command(path: Path | None, backend: str, engine: str | None) -> str:
    """The command that replays a saved scenario (an embedded one names no backend: the
    driver starts its own Redis)."""
    target = shlex.quote(str(path)) if path else "SCENARIO.json"
    engine_arg = f" --engine {shlex.quote(engine)}" if engine else ""
    backend_arg = "" if backend == "embedded" else f" --backend {backend}"
    return f"python -m faults replay {target}{backend_arg}{engine_arg}"


def explain(outcome: Outcome, verdict: Verdict, path: Path | None, engine: str | None) -> str:
    where = f"saved to {path}" if path else "could not be saved: copy it from here"
    return "\n".join([
        render(outcome, verdict),
        "",
        "scenario (JSON):",
        scenario_json.dump(outcome.scenario).rstrip(),
        "",
        f"scenario {where}; replay it with:",
        f"    {replay_command(path, outcome.backend, engine)}",
        "(add --repeat 20 if it replays valid: some failures need one unlucky interleaving)",
    ])  # fmt: skip
