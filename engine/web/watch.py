"""What this server saw happen to a job: its timeline, steals, and each worker's throughput.

Redis keeps a job's present (the hash, the group's pending entries, the consumers), not
its history: which worker committed a task is gone once the task is acknowledged. So a
:class:`JobWatcher` compares successive looks at the pending entries (one bounded
``XPENDING`` per look): an entry that left worker A's pending list and is in the done set
was committed by A; one that moved from A to B with a higher delivery count was stolen.
Tasks read and committed between two looks are counted for no worker (the job's totals
still include them). Dead letters, creation and the end come from Redis itself, so they are
in the timeline even when nobody watched.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any

import redis

from engine.keys import JobKeys
from engine.web import readers
from engine.web.models import Event, JobSummary, Worker

MIN_LOOK_S = 0.25
"""Looks at one job no more often than this, however many pages and streams watch it."""
PENDING_SAMPLE = 1000
MAX_EVENTS = 500
MAX_WATCHED = 64


@dataclasses.dataclass
class _WorkerStats:
    first_seen_ms: int
    last_done_ms: int = 0
    tasks: int = 0
    nbytes: int = 0


@dataclasses.dataclass
class JobWatcher:
    """One job's observations, updated by :meth:`look` (thread-safe)."""

    keys: JobKeys
    events: collections.deque[Event] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=MAX_EVENTS)
    )
    workers: dict[str, _WorkerStats] = dataclasses.field(default_factory=dict)
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
                if name not in self.workers:
                    self.workers[name] = _WorkerStats(first_seen_ms=now)
                    if not first:  # on the first look, when it joined is unknown
                        self._add(now, "worker", f"worker {name} joined")
            rows = readers.pending_sample(client, self.keys, PENDING_SAMPLE)
            pending = {
                readers.text(r["message_id"]): (readers.text(r["consumer"]), r["times_delivered"])
                for r in rows
            }
            self._compare(client, pending, now)
            self._pending = pending

    def _state(self, summary: JobSummary, now: int) -> None:
        old = self.summary
        self.summary = summary
        if old is not None and old.state != summary.state:
            self._add(now, "state", f"state {old.state} -> {summary.state}")

    def _compare(self, client: redis.Redis, pending: dict[str, tuple[str, int]], now: int) -> None:
        gone = [e for e in self._pending if e not in pending]
        for entry, (owner, times) in pending.items():
            before = self._pending.get(entry)
            if before is not None and before[0] != owner and times > before[1]:
                self._add(now, "stolen", f"task {entry} claimed by {owner} from {before[0]}")
        if not gone:
            return
        done = client.smismember(self.keys.done, gone)
        committed = [e for e, flag in zip(gone, done, strict=True) if flag]
        sizes = readers.entries(client, self.keys, committed)
        for entry, found in zip(committed, sizes, strict=True):
            stats = self.workers.setdefault(self._pending[entry][0], _WorkerStats(now))
            stats.tasks += 1
            stats.nbytes += int(found[1].get(b"size", b"0")) if found else 0
            stats.last_done_ms = now

    def _add(self, t_ms: int, kind: str, text: str) -> None:
        self.events.append(Event(t_ms=t_ms, kind=kind, text=text))

    def worker_rows(self) -> list[Worker]:
        """Redis's consumers with what this server saw each of them commit."""
        rows = []
        for row in self.consumers:
            name = readers.text(row["name"])
            stats = self.workers.get(name) or _WorkerStats(0)
            span_s = (stats.last_done_ms - stats.first_seen_ms) / 1000
            inactive = row.get("inactive")
            rows.append(
                Worker(
                    name=name,
                    pending=int(row["pending"]),
                    idle_ms=int(row["idle"]),
                    inactive_ms=None if inactive is None or inactive < 0 else int(inactive),
                    tasks_seen_done=stats.tasks,
                    bytes_seen_done=stats.nbytes,
                    bytes_per_s=round(stats.nbytes / span_s, 1) if span_s > 0 else None,
                )
            )
        return rows

    def timeline(self, client: redis.Redis) -> list[Event]:
        """Creation, dead letters and the end from Redis, with what this server saw."""
        found = list(self.events)
        summary = self.summary
        if summary is not None and summary.started_ms is not None:
            found.append(Event(t_ms=summary.started_ms, kind="created", text="job created"))
        for rid, fields in readers.dead_letters(client, self.keys)[:100]:
            what = f"{fields.get('path', '?')} dead after its deliveries: {fields.get('error')}"
            found.append(Event(t_ms=int(rid.split("-")[0]), kind="dead", text=what))
        if summary is not None and summary.finished_ms is not None:
            text = f"job {summary.state}: {summary.tasks_done} tasks counted"
            found.append(Event(t_ms=summary.finished_ms, kind="finished", text=text))
        return sorted(found, key=lambda e: e.t_ms)


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
