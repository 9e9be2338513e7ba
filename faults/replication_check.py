"""The checker's replication rule: what a failover cost, and when it must cost nothing.

Exact counts do not show a lost commit: its tasks are counted and committed again, and
the counts end exact anyway. The workers' own account does: every commit a worker had
acknowledged (with ``--sync-replicas K``, only once K replicas had it) reaches the
``worker.after_commit`` point, which the history records, so a task counted again after
an acknowledged commit of it had that commit lost and was recomputed
(:func:`faults.recompute.check_recomputed`, fed from the history instead of the workers'
commit log); and a group fault's read of the settled master must hold every commit
acknowledged before it (:func:`missing_after_failover`).

The rule (issue 15): with ``sync_replicas`` >= 1, nothing may be recomputed under the
group's faults (a killed primary or replica, a primary paused past down-after, a split
brain; one at a time, the group settled before the next) but those of
:data:`REPORTED_ONLY`: a commit is acknowledged only once K replicas have it *and* the
Sentinels and replicas still call its server the only master. Without sync the count
may be above 0, and the report says how many.

Without sync a failover may also roll back a job the driver already delivered: its
commits on the old primary were acknowledged and lost, and the driver read the finished
job there. :func:`rolled_back` names that case, in which the checker judges what the
driver delivered (docs/replication.md, "Known limits").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.job import FINISHED_STATES
from faults import history as h
from faults.failover_watch import UNPLANNED
from faults.history import Op
from faults.outcome import Outcome
from faults.recompute import check_recomputed

CRASHES = ("redis-kill-primary", "redis-kill-replica", "redis-kill-every")
"""Group faults that crash one node at a time: what the rule covers."""
PARTITIONS = ("net-partition-primary", "redis-pause-primary", "redis-freeze-primary")
"""Group faults after which the old primary comes back alive, still a master: to the
group that is a partition. It resumes with a replica the Sentinels have not moved to the
new master yet, which acknowledges its writes (``WAIT 1`` succeeds), and they are lost
when both follow the new master: 4 to 58 tasks recomputed with ``--sync-replicas 1``
until the workers also asked the Sentinels (``sentinel_confirm.names_master``)."""


REPORTED_ONLY: tuple[str, ...] = ()
"""Group faults whose cost would be reported, not judged: none. ``redis-freeze-primary``
was here while the family at ``ci`` showed it losing acknowledged commits under load; the
loss was the checker's (two commits of one task in flight together, both accepted, were
counted as one lost: see :func:`faults.recompute.check_recomputed`), and it is judged
again."""


@dataclasses.dataclass(frozen=True)
class ReplicationReport:
    """What the failovers of one replicated run cost."""

    sync_replicas: int
    crashes: int
    """Crash faults that fired on the group."""
    partitions: int
    recomputed: dict[int, int]
    """Task -> acknowledged commits that included it, for tasks acknowledged more than once."""
    rolled_back: bool = False
    """A failover without sync undid part of the job after the driver delivered it."""
    reported_only: int = 0
    """Faults of :data:`REPORTED_ONLY` that fired."""
    unplanned: int = 0
    """Failovers no fault caused (faults/failover_watch.py): the Sentinels judged a
    primary down on their own, most often one a loaded machine made answer late."""

    @property
    def strict(self) -> bool:
        """Whether the rule applies: with sync, whatever the group's faults but those of
        :data:`REPORTED_ONLY`."""
        return self.sync_replicas >= 1 and not self.reported_only

    @property
    def label(self) -> str:
        """The run's class in the summary."""
        if self.reported_only:
            return f"freezes, sync {self.sync_replicas}"
        if self.partitions:
            return f"partitions or pauses, sync {self.sync_replicas}"
        if self.crashes:
            return f"crashes only, sync {self.sync_replicas}"
        return f"no crash or partition (slow links), sync {self.sync_replicas}"

    def line(self) -> str:
        tasks = sorted(self.recomputed)
        must = " (must be 0)" if self.strict else " (allowed)"
        return (f"replication: {self.crashes} crash(es), {self.partitions} partition(s) or "
                f"pause(s), "
                f"--sync-replicas {self.sync_replicas}; acknowledged commits lost and "
                f"recomputed: {len(tasks)} task(s){must} {tasks[:20]}"
                + ("; the job was rolled back after the driver delivered it (its delivered "
                   "counts were judged)" if self.rolled_back else "")
                + (f"; {self.unplanned} failover(s) no fault caused (the Sentinels judged "
                   "the primary down on their own)" if self.unplanned else ""))  # fmt: skip


def _events(outcome: Outcome) -> Iterator[dict[str, Any]]:
    """The history's deliveries and claims (where counting begins), counts and commits,
    as commit-log events, in time order."""
    for op in outcome.history:
        who = op.value.get("consumer")
        if op.f in (h.DELIVER, h.CLAIM) and op.type == "ok":
            yield {"event": "start", "consumer": who, "indexes": [op.value.get("index")]}
        elif op.f == h.COUNT and op.type == "ok":
            yield {"event": "count", "consumer": who, "indexes": [op.value.get("index")]}
        elif op.f == h.COMMIT and op.type in ("ok", "fail"):
            yield {"event": "commit", "consumer": who, "accepted": op.type == "ok",
                   "indexes": op.value.get("indexes")}  # fmt: skip


def report(outcome: Outcome) -> ReplicationReport | None:
    """The run's replication report; ``None`` for a single Redis node."""
    settings = outcome.scenario.settings
    if not settings.replicas:
        return None
    fired = [f.kind.name for f in outcome.fired]
    recount = check_recomputed(_events(outcome))
    lost = {**{t: recount.acknowledged.get(t, 1) for t in missing_after_failover(outcome)},
            **recount.recomputed}  # fmt: skip
    return ReplicationReport(
        settings.sync_replicas,
        sum(name in CRASHES for name in fired),
        sum(name in PARTITIONS for name in fired),
        lost,
        rolled_back(outcome),
        sum(name in REPORTED_ONLY for name in fired),
        sum(op.f == UNPLANNED for op in outcome.history),
    )


def missing_after_failover(outcome: Outcome) -> set[int]:
    """Tasks whose commit was acknowledged before a group fault's read of the settled
    master (``read_at``) and which that read did not find done: lost in the failover
    whoever counts them again, and whenever (a thief that had begun before the
    acknowledgement hides the loss from :func:`faults.recompute.check_recomputed`)."""
    reads = [(float(op.value["read_at"]), set(op.value.get("done_after") or ()))
             for op in outcome.history
             if op.type == "ok" and "read_at" in op.value]  # fmt: skip
    missing: set[int] = set()
    for op in outcome.history:
        if op.f != h.COMMIT or op.type != "ok":
            continue
        pairs = zip(op.value.get("entries") or (), op.value.get("indexes") or (), strict=False)
        for entry, index in pairs:
            if index is not None and any(op.time < at and entry not in done
                                         for at, done in reads):  # fmt: skip
                missing.add(int(index))
    return missing


def problems(outcome: Outcome) -> list[str]:
    """The rule's finding: nothing, or the tasks it should not have recomputed."""
    found = report(outcome)
    if found is None or not found.strict or not found.recomputed:
        return []
    tasks = sorted(found.recomputed)
    return [
        f"replication: with --sync-replicas {found.sync_replicas} ({found.crashes} crash(es), "
        f"{found.partitions} partition(s) or pause(s), one at a time), {len(tasks)} task(s) "
        f"had an acknowledged commit lost in a failover and were recomputed: {tasks[:20]}"
    ]


def uncertain(history: Iterable[Op]) -> Callable[[float], bool]:
    """Whether a time falls while a group fault had the data move between servers: from
    the fault's start (``uncertain_from``) to the read of the settled master
    (``restart_at``). A commit reported then may have been applied by the old master and
    lost, or by the new one and kept; which, only the read after it tells."""
    windows = [(float(op.value["uncertain_from"]), float(op.value["restart_at"]))
               for op in history if op.type == "ok" and "uncertain_from" in op.value]  # fmt: skip
    return lambda t: any(start <= t <= end for start, end in windows)


def rolled_back(outcome: Outcome) -> bool:
    """Without sync, a failover undid part of a job after the driver delivered it whole:
    the driver exited cleanly with its counts, and the new master's job is unfinished.
    With sync that is a lost acknowledged commit, which the rule refuses (seen in the
    family at ``ci`` before the driver asked the Sentinels too: a 4 s partition with
    ``--sync-replicas 1``, whose old side a replica not yet moved had acknowledged)."""
    settings, final = outcome.scenario.settings, outcome.final
    if not settings.replicas or final is None:
        return False
    fired = [f.kind.name for f in outcome.fired]
    if settings.sync_replicas and not any(name in REPORTED_ONLY for name in fired):
        return False  # the rule's case: a rollback there is a lost acknowledged commit
    failed_over = any(f.kind.group for f in outcome.fired)
    state = (final.job or {}).get("state")
    clean = any(d.exit_code == 0 for d in outcome.drivers)
    return failed_over and clean and outcome.delivered is not None and state not in FINISHED_STATES
