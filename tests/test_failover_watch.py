"""Failovers the nemesis did not cause are recorded (faults/failover_watch.py).

On a real replicated group: a primary killed by a group fault is failed over inside the
fault's window and is not "unplanned"; the same primary killed behind the nemesis' back
is, and the replication report says so.
"""

from __future__ import annotations

import threading

import pytest

from engine.keys import JobKeys
from engine.nodes.base import Persistence
from faults import replication_nemesis as nemesis
from faults.failover_watch import UNPLANNED, FailoverWatch
from faults.group_db import SETTLE_S, GroupDB
from faults.history import History

pytestmark = pytest.mark.slow


def test_changes_inside_a_window_are_the_faults_own() -> None:
    """The thread itself, fed a master that moves twice (a Sentinel not answering, ``None``,
    is no change); run time is the poll count."""
    answers = [("a", 1), None, ("a", 1), ("b", 2), ("b", 2), None, ("c", 3)]
    polls = iter(range(1, 100))
    seen = threading.Event()

    def master() -> tuple[str, int] | None:
        if not answers:
            seen.set()
            return ("c", 3)
        return answers.pop(0)

    watch = FailoverWatch(master, lambda: float(next(polls)), poll_s=0.001)
    watch.start()
    assert seen.wait(5)
    watch.stop()
    assert [(c.before, c.after) for c in watch.changes] == [(("a", 1), ("b", 2)),
                                                             (("b", 2), ("c", 3))]
    first = watch.changes[0].at
    assert watch.unplanned([(first - 0.5, first + 0.5)]) == [watch.changes[1]]
    assert watch.unplanned([]) == watch.changes
    assert watch.changes[0].to_data() == {"at": first, "from": "a:1", "to": "b:2"}


@pytest.mark.parametrize("redis_backend", ["process"], indirect=True)
def test_a_failover_behind_the_nemesis_back_is_recorded(redis_backend: str) -> None:
    history = History()
    db = GroupDB(2, Persistence.parse("none"), history, proxies=False)
    db.setup()
    try:
        keys = JobKeys("watched")
        db.group_fault("kill-primary", keys, 0)
        assert db.watch.changes, "the watch missed the fault's own failover"
        assert db.watch.unplanned(db.windows) == [], "the fault's failover counted as unplanned"
        old = db.node.master_address()
        nemesis.kill_primary(db.node)
        assert old is not None
        db.node.wait_failover(old, SETTLE_S)
        db.settle()
    finally:
        db.teardown()
    unplanned = [op for op in history if op.f == UNPLANNED]
    assert len(unplanned) == 1, [op.value for op in unplanned]
    assert unplanned[0].value["from"] == f"{old[0]}:{old[1]}"
