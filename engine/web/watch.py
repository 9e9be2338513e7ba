"""What a job's workers did and what this server saw happen: throughput, steals, timeline.

Each worker's tasks, bytes and first and last commit time are tallied by the commit
function itself in the job hash (``w:<consumer>:...`` fields), so they are exact whether
or not anyone watched. Steals and workers joining are what Redis does not keep: a
:class:`JobWatcher` compares successive looks at the pending entries (one bounded
``XPENDING`` per look), and an entry that moved from worker A to B with a higher delivery
count was stolen. Dead letters, creation and the end come from Redis itself.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any

import redis

from engine.job import FINISHED_STATES
from engine.keys import WORKER_FIELD_PREFIX, JobKeys
from engine.web import readers
from engine.web.models import Event, JobSummary, Worker

MIN_LOOK_S = 0.25
"""Looks at one job no more often than this, however many pages and streams watch it."""
PENDING_SAMPLE = 1000
MAX_EVENTS = 500
MAX_WATCHED = 64
TIMELINE_DEAD = 100
"""Dead letters shown in a timeline (all of them are in ``GET /jobs/{id}/tasks?state=dead``)."""


@dataclasses.dataclass
class JobWatcher:
    """One job's observations, updated by :meth:`look` (thread-safe)."""

    keys: JobKeys
    events: collections.deque[Event] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_EVENTS)
    )
    first_seen_ms: dict[str, int] = dataclasses.field(default_factory=dict)
    consumers: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    summary: JobSummary | None = None
    _pending: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    _last_look: float = 0.0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def look(self, client: redis.Redis, raw: dict[bytes, bytes]) -> None:
        """Compare Redis now with the previous look and record what changed."""
        with self._lock:
            if time.monotonic() - self._last_look < MIN_LOOK_S:
                return
            self._last_look = time.monotonic()
            now = int(time.time() * 1000)
            first = self.summary is None
            self._state(readers.summary(self.keys.job_id, raw), now)
            self.consumers = readers.consumers(client, self.keys)
            for row in self.consumers:
                name = readers.text(row["name"])
                if name not in self.first_seen_ms:
                    self.first_seen_ms[name] = now
                    if not first:  # on the first look, when it joined is unknown
                        self._add(now, "worker", f"worker {name} joined")
            rows = readers.pending_sample(client, self.keys, PENDING_SAMPLE)
            pending = {
                readers.text(r["message_id"]): (readers.text(r["consumer"]), r["times_delivered"])
                for r in rows
            }
            self._steals(pending, now)
            self._pending = pending

    def _state(self, summary: JobSummary, now: int) -> None:
        old = self.summary
        self.summary = summary
        finished = summary.state in FINISHED_STATES  # the timeline has its end from Redis
        if old is not None and old.state != summary.state and not finished:
            self._add(now, "state", f"state {old.state} -> {summary.state}")

    def _steals(self, pending: dict[str, tuple[str, int]], now: int) -> None:
        for entry, (owner, times) in pending.items():
            before = self._pending.get(entry)
            if before is not None and before[0] != owner and times > before[1]:
                self._add(now, "stolen", f"task {entry} claimed by {owner} from {before[0]}")

    def _add(self, t_ms: int, kind: str, text: str) -> None:
        self.events.append(Event(t_ms=t_ms, kind=kind, text=text))

    def worker_rows(self, raw: dict[bytes, bytes]) -> list[Worker]:
        """Redis's consumers with their commit tallies from the job hash."""
        tallies = worker_tallies(raw)
        rows = []
        for row in self.consumers:
            name = readers.text(row["name"])
            tally = tallies.get(name, {})
            done_bytes = tally.get("bytes", 0)
            last = tally.get("last_ms", 0)
            start = min(self.first_seen_ms.get(name, last), tally.get("first_ms", last))
            if start >= last and self.summary is not None:  # one commit, and never seen before
                start = self.summary.started_ms or start
            span_s = (last - start) / 1000
            inactive = row.get("inactive")
            rows.append(
                Worker(
                    name=name,
                    pending=int(row["pending"]),
                    idle_ms=int(row["idle"]),
                    inactive_ms=None if inactive is None or inactive < 0 else int(inactive),
                    tasks_done=tally.get("tasks", 0),
                    bytes_done=done_bytes,
                    last_commit_ms=tally.get("last_ms"),
                    bytes_per_s=round(done_bytes / span_s, 1) if span_s > 0 else None,
                )
            )
        return rows

    def timeline(self, client: redis.Redis) -> list[Event]:
        """Creation, dead letters and the end from Redis, with what this server saw."""
        found = list(self.events)
        summary = self.summary
        if summary is not None and summary.started_ms is not None:
            found.append(Event(t_ms=summary.started_ms, kind="created", text="job created"))
        for rid, fields in readers.dead_letters(client, self.keys, TIMELINE_DEAD):
            what = f"{fields.get('path', '?')} dead-lettered: {fields.get('error')}"
            found.append(Event(t_ms=int(rid.split("-")[0]), kind="dead", text=what))
        if summary is not None and summary.finished_ms is not None:
            text = f"job {summary.state}: {summary.tasks_done} tasks counted"
            found.append(Event(t_ms=summary.finished_ms, kind="finished", text=text))
        return sorted(found, key=lambda e: e.t_ms)


def worker_tallies(raw: dict[bytes, bytes]) -> dict[str, dict[str, int]]:
    """``{consumer: {"tasks": n, "bytes": n, "first_ms": t, "last_ms": t}}`` from the hash."""
    found: dict[str, dict[str, int]] = {}
    prefix = WORKER_FIELD_PREFIX.encode()
    for field, value in raw.items():
        if field.startswith(prefix):
            name, _, what = readers.text(field[len(prefix) :]).rpartition(":")
            found.setdefault(name, {})[what] = int(value)
    return found


class Watchers:
    """The watchers of the jobs this server was asked about (the most recent few)."""

    def __init__(self) -> None:
        self._by_job: collections.OrderedDict[str, JobWatcher] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, keys: JobKeys) -> JobWatcher:
        with self._lock:
            watcher = self._by_job.pop(keys.job_id, None) or JobWatcher(keys)
            self._by_job[keys.job_id] = watcher
            while len(self._by_job) > MAX_WATCHED:
                self._by_job.popitem(last=False)
            return watcher

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._by_job.pop(job_id, None)
