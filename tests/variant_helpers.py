"""Shared by the buggy-variant tests: run a variant's regression scenario until it is
judged invalid (some catches depend on how the scheduler interleaves two workers)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from engine.nodes.base import RedisNode
from faults import scenario_json
from faults.checker import check
from faults.runner import run_scenario
from faults.scenario import Fault


def statuses_until_invalid(
    path: Path, engine: str, tries: int, node_factory: Callable[..., RedisNode],
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The verdicts of up to ``tries`` runs of the scenario at ``path`` (with the faults
    ``extra`` added), stopping at the first invalid one; each run on a fresh node with the
    scenario's persistence."""
    scenario = scenario_json.load(path.read_text(encoding="utf-8"))
    if extra:
        more = tuple(Fault.parse(text) for text in extra)
        scenario = dataclasses.replace(scenario, faults=(*scenario.faults, *more))
    statuses: list[str] = []
    for _ in range(tries):
        node = node_factory(start=False, persistence=scenario.settings.persistence_spec())
        statuses.append(check(run_scenario(scenario, node, engine=engine)).status)
        if statuses[-1] == "invalid":
            break
    return statuses
