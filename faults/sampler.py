"""A thread that watches a job from outside while it runs, for the atomicity check.

Every ``interval_s`` it reads the counts, the acknowledged set and the state in one
MULTI/EXEC. If commits are atomic, every such cut has counts equal to the serial counts
of exactly the tasks acknowledged so far; the checker verifies that for each sample. Only
samples that differ from the previous one are kept (the job changes once per commit, the
sampler looks far more often). A paused or restarting Redis just costs a few missed
samples.

A cut of a job with hundreds of thousands of distinct words is a large read: taken every
tick, it kept Redis and this process busy, and on a loaded machine it outlasted its
timeout every time, so the runner saw a job that never moved and stopped it as stalled.
So each tick first takes a cheap probe (state, progress counters, set and sorted-set
sizes, the staged parts left): the probe alone says whether and when the job moved or
finished. Full cuts of a large job are taken only after the probe saw it change, and
spaced so that they take at most a third of the time, with a timeout that fits their size.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Hashable

import redis

from engine.errors import NodeError
from engine.job import FINISHED_STATES
from engine.keys import JobKeys
from faults.db import DB, READ_TIMEOUT_S, Sample
from faults.history import History

LARGE_CUT = 20_000
"""Distinct words past which a full cut is no longer taken at every tick."""
CUT_SHARE = 3.0
"""A large cut waits this many times its own duration before the next one."""


class Sampler:
    def __init__(
        self, db: DB, keys: JobKeys, history: History, *, interval_s: float = 0.025
    ) -> None:
        self.db = db
        self.keys = keys
        self.history = history
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.reads = 0
        self.finished_at: float | None = None
        self.moved_at = 0.0
        """When a read last saw the job move, merges of staged parts included (those
        reads are not kept as samples): what the runner's stall detection watches."""
        self._progress: Hashable = None
        self._cut_probe: Hashable = None
        self._words = 0
        self._next_cut = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="faults-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=READ_TIMEOUT_S + 1)
            self._thread = None

    def _run(self) -> None:
        clients: tuple[redis.Redis, redis.Redis] | None = None
        try:
            while not self._stop.wait(self.interval_s):
                if clients is None:
                    clients = self._clients()  # an embedded Redis may not be there yet
                if clients is not None:
                    self._tick(*clients)
        finally:
            for client in clients or ():
                with contextlib.suppress(Exception):
                    client.close()

    def _clients(self) -> tuple[redis.Redis, redis.Redis] | None:
        """The probe's and the cuts' clients, or ``None`` while there is no server to ask
        (a driver that has not started its embedded Redis yet: the thread died of it)."""
        try:
            probe = self.db.sampler_client()
            cut = self.db.cut_client()
        except (NodeError, redis.RedisError, OSError):
            return None
        return probe, cut

    def _tick(self, probe: redis.Redis, cut: redis.Redis) -> None:
        try:
            seen = self._probe(probe)
        except (redis.RedisError, OSError):
            probe.connection_pool.disconnect()
            return  # down, paused or loading: try again next tick
        if self._words >= LARGE_CUT and (
            seen == self._cut_probe or time.monotonic() < self._next_cut
        ):
            return
        started = time.monotonic()
        try:
            sample = DB.sample(cut, self.keys, self.history.now())
        except (redis.RedisError, OSError):
            cut.connection_pool.disconnect()
            return
        self._cut_probe = seen
        self._next_cut = time.monotonic() + CUT_SHARE * (time.monotonic() - started)
        self._take(sample)

    def _probe(self, client: redis.Redis) -> Hashable:
        """Read what changes whenever the job moves, cheaply; note movement and the end."""
        now = self.history.now()
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(self.keys.job)  # state, progress counters and per-worker tallies
        pipe.scard(self.keys.done)
        pipe.zcard(self.keys.counts)
        pipe.hkeys(self.keys.applying)
        job, done, words, staged = pipe.execute()
        parts = tuple(client.hlen(key) for key in sorted(staged))
        self._words = int(words)
        seen = (tuple(sorted(job.items())), int(done), self._words, parts)
        self._moved(seen, now)
        state, applying = job.get(b"state", b"").decode(), int(job.get(b"applying") or 0)
        if self.finished_at is None and not applying and state in FINISHED_STATES:
            self.finished_at = now
        return seen

    def _moved(self, progress: Hashable, now: float) -> None:
        if progress != self._progress:
            self._progress, self.moved_at = progress, now

    def _take(self, sample: Sample) -> None:
        self.reads += 1
        if sample.applying:
            return  # a large commit is being merged in bounded steps: not a consistent cut
        if self.finished_at is None and sample.state in FINISHED_STATES:
            self.finished_at = sample.time
        last = self.samples[-1] if self.samples else None
        if last is None or (last.done, last.counts, last.state) != (
            sample.done,
            sample.counts,
            sample.state,
        ):
            self.samples.append(sample)
