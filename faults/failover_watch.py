"""Failovers the nemesis did not cause, seen from the Sentinels.

A replicated group's fault (faults/group_db.py) knows the failover it causes: it waits
for it and records the master before and after. A loaded machine can cause one too: a
primary that answers the Sentinels late for longer than their down-after time is failed
over although nobody touched it. The checker must know of such a failover, or a lost
commit in it looks like an engine bug with no fault to blame, and a run that saw one is
not the run its scenario describes. So the watch asks the Sentinels where the master is,
several times a second, for the whole run; :meth:`FailoverWatch.unplanned` gives the
changes seen outside every fault's window, which the DB role writes to the history as
``unplanned-failover`` operations for the replication report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Sequence

POLL_S = 0.2
"""How often the master is asked for: a failover takes seconds (down-after, then an
election), so this sees each one, and costs one Sentinel call per poll."""
UNPLANNED = "unplanned-failover"
"""The history operation of a failover no fault caused."""

Address = tuple[str, int]


@dataclasses.dataclass(frozen=True)
class MasterChange:
    """The master moved from ``before`` to ``after``, first seen at ``at`` (run seconds)."""

    at: float
    before: Address
    after: Address

    def to_data(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "from": _shown(self.before), "to": _shown(self.after)}


class FailoverWatch(threading.Thread):
    """Polls ``master`` (``None`` when no Sentinel answers) every ``poll_s`` and keeps each
    change of the answer, timed by ``now``."""

    def __init__(self, master: Callable[[], Address | None], now: Callable[[], float],
                 poll_s: float = POLL_S) -> None:  # fmt: skip
        super().__init__(name="failover-watch", daemon=True)
        self.master, self.now, self.poll_s = master, now, poll_s
        self.changes: list[MasterChange] = []
        self._halt = threading.Event()

    def run(self) -> None:
        last = None
        while not self._halt.wait(self.poll_s):
            current = None
            with contextlib.suppress(Exception):  # a watch must never end the run
                current = self.master()
            if current is None:
                continue
            if last is not None and current != last:
                self.changes.append(MasterChange(self.now(), last, current))
            last = current

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=2 * self.poll_s + 1)

    def unplanned(self, windows: Sequence[tuple[float, float]]) -> list[MasterChange]:
        """The changes seen outside every ``(start, end)`` window of a fault (a fault's
        own failover is seen inside its window: it waits for the group to settle)."""
        return [c for c in self.changes
                if not any(start <= c.at <= end for start, end in windows)]  # fmt: skip


def _shown(address: Address) -> str:
    return f"{address[0]}:{address[1]}"
