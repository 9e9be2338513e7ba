"""The checker of replication's promise: no acknowledged commit lost and recomputed.

Exact counts do not show what a failover cost: a commit the old primary accepted but no
replica received vanishes with it, its tasks go back to the queue, and they are counted
and committed again, so the counts end exact anyway. Only the workers' own account (the
commit log of :mod:`engine.commitlog`, independent of Redis) shows it: a task whose
commit was acknowledged more than once was acknowledged, lost and recomputed. With
``--sync-replicas f`` and faults on at most f nodes at a time (crashes, pauses, partitions)
that number must be 0; without sync it may not be, and the report says how many.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class RecomputeReport:
    """What the workers did, per task index."""

    counted: dict[int, int]
    """How many times each task was counted (any reason: a steal after a stall counts too)."""
    acknowledged: dict[int, int]
    """How many acknowledged (accepted, and with sync, replicated) commits included it."""

    @property
    def recomputed(self) -> dict[int, int]:
        """Tasks acknowledged more than once: an acknowledged commit was lost."""
        return {task: n for task, n in self.acknowledged.items() if n > 1}

    @property
    def counted_again(self) -> dict[int, int]:
        return {task: n for task, n in self.counted.items() if n > 1}

    def summary(self) -> str:
        return (
            f"{len(self.counted)} tasks counted {sum(self.counted.values())} times, "
            f"{sum(self.acknowledged.values())} acknowledged task commits; "
            f"lost and recomputed: {len(self.recomputed)} {sorted(self.recomputed)}; "
            f"counted more than once: {len(self.counted_again)}"
        )


def read_commit_log(folder: str | Path) -> list[dict[str, Any]]:
    """Every event of every worker's ``worker-*.jsonl`` (a torn last line is skipped)."""
    events: list[dict[str, Any]] = []
    for path in sorted(Path(folder).glob("worker-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a worker killed mid-write
    return events


def check_recomputed(events: Iterable[dict[str, Any]]) -> RecomputeReport:
    """Tally counts and acknowledged commits per task from commit-log events."""
    counted: Counter[int] = Counter()
    acknowledged: Counter[int] = Counter()
    for event in events:
        indexes = [int(i) for i in event.get("indexes") or [] if i is not None]
        if event.get("event") == "count":
            counted.update(indexes)
        elif event.get("event") == "commit" and event.get("accepted"):
            acknowledged.update(indexes)
    return RecomputeReport(dict(counted), dict(acknowledged))
