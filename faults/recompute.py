"""The checker of replication's promise: no acknowledged commit lost and recomputed.

Exact counts do not show what a failover cost: a commit the old primary accepted but no
replica received vanishes with it, its tasks go back to the queue, and they are counted
and committed again, so the counts end exact anyway. Only the workers' own account (the
commit log of :mod:`engine.commitlog`, independent of Redis) shows it: a task counted
again after a commit of it was acknowledged, and acknowledged again, had that commit
lost. (Acknowledged twice is not enough: two commits of one task in flight together are
both accepted, idempotently.) With
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
    lost: frozenset[int] | None = None
    """Tasks counted again after a commit of theirs was acknowledged (``None``: not known,
    every task acknowledged twice is taken as lost)."""

    @property
    def recomputed(self) -> dict[int, int]:
        """Tasks whose acknowledged commit was lost: counted again after it, and
        acknowledged again. Two commits of one task that were in flight together (a
        thief stole it from a worker whose commit waited out a failover, and both were
        accepted, idempotently) are not a loss: nothing was acknowledged when the thief
        began."""
        twice = {task: n for task, n in self.acknowledged.items() if n > 1}
        if self.lost is None:
            return twice
        return {task: n for task, n in twice.items() if task in self.lost}

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
    """Tally counts and acknowledged commits per task from commit-log events, in time
    order (``t``, when every event has it), and find the tasks counted again after an
    acknowledgement.

    A worker's counting of a task begins at its ``start`` event (a delivery or a claim,
    where the events have them) or else at its first ``count`` of it since its last
    commit; a task is lost when one of its acknowledged commits began counting after an
    earlier acknowledgement of it."""
    listed = list(events)
    if listed and all("t" in event for event in listed):
        listed.sort(key=lambda event: float(event["t"]))
    counted: Counter[int] = Counter()
    acknowledged: Counter[int] = Counter()
    began: dict[tuple[Any, int], int] = {}
    first_ack: dict[int, int] = {}
    lost: set[int] = set()
    for position, event in enumerate(listed):
        indexes = [int(i) for i in event.get("indexes") or [] if i is not None]
        kind, who = event.get("event"), event.get("consumer")
        for index in indexes:
            if kind == "start":
                began[(who, index)] = position
            elif kind == "count":
                counted[index] += 1
                began.setdefault((who, index), position)
            elif kind == "commit":
                start = began.pop((who, index), position)
                if not event.get("accepted"):
                    continue
                acknowledged[index] += 1
                if first_ack.get(index, position) < start:
                    lost.add(index)
                first_ack.setdefault(index, position)
    return RecomputeReport(dict(counted), dict(acknowledged), frozenset(lost))
