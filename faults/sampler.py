"""A thread that watches a job from outside while it runs, for the atomicity check.

Every ``interval_s`` it reads the counts, the acknowledged set and the state in one
MULTI/EXEC. If commits are atomic, every such cut has counts equal to the serial counts
of exactly the tasks acknowledged so far; the checker verifies that for each sample. Only
samples that differ from the previous one are kept (the job changes once per commit, the
sampler looks far more often). A paused or restarting Redis just costs a few missed
samples.
"""

from __future__ import annotations

import contextlib
import threading

import redis

from engine.job import FINISHED_STATES
from engine.keys import JobKeys
from faults.db import DB, Sample
from faults.history import History


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
        self._progress: object = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="faults-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        client = self.db.sampler_client()
        try:
            while not self._stop.wait(self.interval_s):
                self._take(client)
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def _take(self, client: redis.Redis) -> None:
        try:
            sample = DB.sample(client, self.keys, self.history.now())
        except (redis.RedisError, OSError):
            client.connection_pool.disconnect()
            return  # down, paused or loading: try again next tick
        self.reads += 1
        progress = (sample.done, sample.state, sample.applying, len(sample.counts),
                    sum(sample.counts.values()))  # fmt: skip
        if progress != self._progress:
            self._progress, self.moved_at = progress, sample.time
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
