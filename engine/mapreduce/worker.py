"""The MapReduce worker: map tasks until every one is committed, then reduce tasks.

A map task counts its input, writes one partition file per reduce task (temporary name,
fsync, rename) and commits: one function call acknowledges it and records each file's size
and checksum. A reduce task checks every recorded file of its partition, merges them and
commits: one call acknowledges it and sets each word's final count. A file that is lost or
damaged is caught by its checksum; the reducer then queues its map task again and returns
to map work. As in the stream mode, a worker keeps nothing that matters in memory: what it
held when it died is stolen once idle for the claim timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from engine import crashpoints as cp
from engine.errors import InputError, JobNotFoundError
from engine.heartbeat import Heartbeat
from engine.inputs import BLOCK_BYTES, iter_blocks
from engine.job import JobSettings, read_job
from engine.keys import GROUP, JobKeys
from engine.mapreduce import files, mapcount
from engine.mapreduce.liveness import LivenessSession
from engine.mapreduce.session import Entry, MapReduceSession, Phase
from engine.session import GroupMissingError
from engine.tasks import Task

log = logging.getLogger("wordcount.mapreduce")
POLL_S = 0.05
MAX_BLOCK_BYTES = 32 << 20
"""A map task of up to this size (the default chunk is 16 MB) is counted as one block:
merging the counts of several blocks cost about a tenth of the counting."""


@dataclasses.dataclass
class MapReduceStats:
    maps: int = 0
    reduces: int = 0
    refused: int = 0
    redone: int = 0
    dead_lettered: int = 0


class MapReduceWorker:
    """One worker of a MapReduce job."""

    def __init__(
        self,
        client: redis.Redis,
        job_id: str,
        *,
        consumer: str | None = None,
        deadline_s: float = 60.0,
        wait_for_job_s: float = 30.0,
        max_pairs: int = 0,
        max_parts: int = 0,
        **_: Any,
    ) -> None:
        self.keys = JobKeys(job_id)
        self.session = MapReduceSession(client, self.keys, deadline_s=deadline_s)
        self.liveness = LivenessSession(self.session)
        self.heartbeat: Heartbeat | None = None
        if consumer:
            self.session.consumer = consumer
        self.wait_for_job_s = wait_for_job_s
        self.settings = JobSettings()
        self.stats = MapReduceStats()
        self.max_pairs = max_pairs
        """Word counts per Redis call of a reduce commit (0: ``payload.MAX_PAIRS_PER_CALL``)."""
        self.max_parts = max_parts
        """If set, parts per reduce commit at most (larger parts rather than more)."""

    def run(self) -> MapReduceStats:
        """Work until the job is finished, saying so in a liveness key meanwhile."""
        self.settings = self._wait_for_job()
        self.heartbeat = Heartbeat(self.liveness, self.settings.claim_timeout_ms)
        self.heartbeat.start()
        try:
            return self._work()
        finally:
            self.heartbeat.stop()
            self.heartbeat = None

    def _work(self) -> MapReduceStats:
        while True:
            try:
                phase = self.session.phase()
                if phase is None:
                    self.settings = self._wait_for_job()
                    continue
                if phase.finished:
                    return self.stats
                if not self.step(phase):
                    time.sleep(POLL_S if phase.reducing else 0)
            except GroupMissingError:
                log.warning("job %s vanished from Redis; waiting for it", self.keys.job_id)
                self.settings = self._wait_for_job()

    def step(self, phase: Phase) -> bool:
        """Do one task the phase allows; ``False`` if there was none."""
        timeout = self.settings.claim_timeout_ms
        if phase.reducing:
            entry = self.session.take(self.keys.reduces, timeout, None)
            if entry is not None:
                with self._held(self.keys.reduces, entry):
                    self.reduce(entry, phase)
            elif phase.applying:  # a reducer died between its commit and its last part
                self.session.apply_pending()
            return entry is not None
        entry = self.session.take(self.keys.tasks, timeout, max(10, min(50, timeout // 2)))
        if entry is not None:
            with self._held(self.keys.tasks, entry):
                self.map(entry, phase)
        return entry is not None

    @contextlib.contextmanager
    def _held(self, stream: str, entry: Entry) -> Iterator[None]:
        """The heartbeat renews ``entry``'s claim while the task runs (a worker stepped
        by hand, without :meth:`run`, has no heartbeat: its renewer alone keeps it)."""
        beat = self.heartbeat
        if beat is None:
            yield
            return
        self.liveness.streams[entry.entry_id] = stream
        beat.hold([entry.entry_id])
        try:
            yield
        finally:
            beat.release([entry.entry_id])
            self.liveness.streams.pop(entry.entry_id, None)

    def _wait_for_job(self) -> JobSettings:
        give_up = time.monotonic() + self.wait_for_job_s
        while True:
            info = self.session.call(lambda: read_job(self.session.client, self.keys))
            if info is not None:
                return info.settings
            if time.monotonic() > give_up:
                raise JobNotFoundError(
                    f"no job {self.keys.job_id!r} appeared in Redis within "
                    f"{self.wait_for_job_s:.0f} s: start it with `wordcount run --job ID ...`"
                )
            time.sleep(POLL_S)

    def _context(self, entry: Entry, **more: Any) -> dict[str, Any]:
        return {"consumer": self.session.consumer, "entry": entry.entry_id,
                "deliveries": entry.deliveries, **more}  # fmt: skip

    # -- map ---------------------------------------------------------------------------

    def map(self, entry: Entry, phase: Phase) -> None:
        task = Task.from_fields(entry.fields)
        ctx = self._context(entry, index=task.index)
        if entry.deliveries > self.settings.max_attempts:
            self._dead_letter(entry, task, f"gave up after {entry.deliveries - 1} attempts")
            return
        renewer = _Renewer(self.session, self.keys.tasks, entry.entry_id, self.settings)
        try:
            blocks = iter_blocks(task, min(max(BLOCK_BYTES, task.size + 1), MAX_BLOCK_BYTES))
            words, counts = mapcount.count_blocks(blocks, self.settings.tokenizer, renewer.maybe)
        except InputError as exc:
            self._dead_letter(entry, task, str(exc))
            return
        directory = Path(phase.intermediate)
        files.prepare(directory)
        parts = [files.encode(w, n) for w, n in mapcount.split(words, counts, phase.n_reduces)]
        del words, counts
        renewer.maybe()
        records = self.write_outputs(
            directory, task.index, parts, lambda: cp.reach(cp.MAP_MID_WRITE, **ctx)
        )
        renewer.maybe()
        cp.reach(cp.MAP_AFTER_WRITE, **ctx)
        record = " ".join([str(task.size), *(r.text() for r in records)])
        cp.reach(cp.MAP_BEFORE_COMMIT, **ctx)
        keys = [self.keys.tasks, self.keys.job, self.keys.done, self.keys.map_outputs,
                self.keys.reduces]  # fmt: skip
        args = [GROUP, self.session.consumer, entry.entry_id, task.index, record, task.size]
        reply = self.session.fcall("mr_map_commit", keys, args)
        accepted = int(reply[0]) == 1
        if accepted:
            self.stats.maps += 1
        else:
            self.stats.refused += 1

    def write_outputs(
        self, directory: Path, index: int, parts: list[list[bytes | memoryview]],
        after_first: Callable[[], None],
    ) -> list[files.FileRecord]:  # fmt: skip
        """Write the partition files (temporary name, fsync, rename)."""
        return files.write_all(directory, index, parts, after_first)

    def _dead_letter(self, entry: Entry, task: Task, error: str) -> None:
        keys = [self.keys.tasks, self.keys.dead, self.keys.job, self.keys.map_outputs,
                self.keys.reduces]  # fmt: skip
        args = [GROUP, self.session.consumer, entry.entry_id, task.index, task.describe(), error]
        if self.session.fcall("mr_dead_letter", keys, args):
            self.stats.dead_lettered += 1
            log.warning("task %s dead-lettered: %s", task.describe(), error)

    # -- reduce ------------------------------------------------------------------------

    def reduce(self, entry: Entry, phase: Phase) -> None:
        from engine.mapreduce.reduce import reduce_task

        reduce_task(self, entry, phase)

    def commit_reduce(
        self, entry: Entry, partition: int, merged: tuple[Any, Any], digest: str,
        ctx: dict[str, Any],
    ) -> str:  # fmt: skip
        """Commit a reduce task's merged counts; the refusal reason, or "" if accepted."""
        from engine.mapreduce.reduce import commit

        return commit(self, entry, partition, merged, digest, ctx)


class _Renewer:
    """Renews one claim every third of the claim timeout while a long task runs."""

    def __init__(
        self, session: MapReduceSession, stream: str, entry_id: str, settings: JobSettings
    ) -> None:
        self.session, self.stream, self.entry_id = session, stream, entry_id
        self.every_s = settings.claim_timeout_ms / 3000
        self.last = time.monotonic()

    def maybe(self) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.session.renew(self.stream, self.entry_id)
            self.last = time.monotonic()


__all__ = ["MapReduceWorker"]
