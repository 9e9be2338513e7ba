"""A catch is an INVALID verdict, never an UNKNOWN one: the hunt and the summary count
only invalid verdicts, and list unknown ones apart.

The runs here are stand-ins (the hunt's bookkeeping is under test, not an engine): the
property is replaced by one that answers a fixed verdict without starting anything.
"""

from __future__ import annotations

from collections import Counter

import pytest

from faults import teeth
from faults.checker import Verdict
from faults.history import History
from faults.ledger import Ledger
from faults.outcome import Outcome
from faults.property import ScenarioFailed
from faults.scenario import Scenario


def _failing(status: str) -> object:
    def holds(scenario: Scenario, backend: str, **_: object) -> None:
        verdict = Verdict(status, (f"a {status} verdict",))  # type: ignore[arg-type]
        outcome = Outcome(scenario, backend, "job", History())
        raise ScenarioFailed(status, outcome, verdict, None)

    return holds


@pytest.mark.parametrize("status", ["unknown", "invalid"])
def test_only_an_invalid_verdict_is_a_catch(
    status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(teeth, "holds", _failing(status))
    monkeypatch.setattr(teeth, "FAMILIES", ("worker-faults",))  # one family is enough here
    result = teeth.hunt("faults.buggy:count_then_ack", "process", profile="ci", shrink=False)
    assert result.error is None
    if status == "invalid":
        assert result.caught and result.examples == 1 and not result.unknowns
    else:
        assert not result.caught and result.failure is None
        assert len(result.unknowns) == result.examples > 1  # every example, none a catch


def test_the_summary_counts_unknowns_apart() -> None:
    ledger = Ledger(scenarios=3, verdicts=Counter({
        "valid": 1, "unknown for faults.buggy:a": 2, "invalid for faults.buggy:b": 1,
    }))  # fmt: skip
    line = ledger._verdict_line()
    assert "other engines caught 1 of 2" in line and "2 unknown (not catches)" in line
