"""Known-buggy MapReduce engines: each departs from ``engine.mapreduce`` by one classic
mistake, and each gives exact counts without faults (``reduce_early`` with one worker).

They prove that the MapReduce tests have teeth (``tests/test_mapreduce_buggy.py``). Each
is an :class:`engine.plugins.Engine` factory, usable as
``--engine faults.buggy_mapreduce:NAME``; :data:`VARIANTS` lists them.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from engine import crashpoints as cp
from engine.job import JobInfo, JobSettings
from engine.keys import GROUP, JobKeys
from engine.mapreduce import files, payload
from engine.mapreduce.engine import MapReduceEngine
from engine.mapreduce.session import Entry, MapReduceLibrary, Phase
from engine.mapreduce.worker import MapReduceWorker
from engine.plugins import Engine, Runnable
from engine.tasks import Task


class _BuggyLibrary(MapReduceLibrary):
    """``faults/buggy_mapreduce.lua``: the helpers the variants call instead."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._code = importlib.resources.files("faults").joinpath("buggy_mapreduce.lua") \
            .read_text("utf-8")  # fmt: skip

    def load(self) -> None:
        self.client.function_load(self._code, replace=True)


def _call(worker: MapReduceWorker, name: str, keys: list[str], args: list[Any]) -> Any:
    library = _BuggyLibrary(worker.session.client)
    return worker.session.call(lambda: library.fcall(name, keys, args))


class ReduceEarly(MapReduceWorker):
    """1. Starts reducing as soon as it finds no map task to take, not once every map task
    is committed: a map held by a stalled or crashed worker is missing from every
    partition reduced before it is stolen and committed again."""

    def step(self, phase: Phase) -> bool:
        if phase.reducing or phase.state != "ready":
            return super().step(phase)
        entry = self.session.take(self.keys.tasks, self.settings.claim_timeout_ms, None)
        if entry is not None:
            self.map(entry, phase)
            return True
        return super().step(dataclasses.replace(phase, settled=phase.n_maps))

    def commit_reduce(
        self, entry: Entry, partition: int, merged: tuple[Any, Any], digest: str,
        ctx: dict[str, Any],
    ) -> str:  # fmt: skip
        words, counts = payload.sort_for_zadd(*merged)
        cp.reach(cp.REDUCE_BEFORE_COMMIT, **ctx)
        k = self.keys
        reply = _call(self, "mrb_commit_ungated",
                      [k.reduces, k.job, k.counts, k.reduced, k.map_outputs],
                      [GROUP, self.session.consumer, entry.entry_id, partition,
                       payload.pack_scored(words, counts)])  # fmt: skip
        return "" if int(reply[0]) == 1 else "not-owner"


class InPlace(MapReduceWorker):
    """2. Writes each partition file straight under its final name, no temporary file and
    no rename: a crash mid-write leaves a partial file where readers look, and a re-run of
    a committed map truncates a file that reducers may be reading."""

    def write_outputs(
        self, directory: Path, index: int, parts: list[list[bytes | memoryview]],
        after_first: Callable[[], None],
    ) -> list[files.FileRecord]:  # fmt: skip
        records = []
        for p, pieces in enumerate(parts):
            data = b"".join(bytes(piece) for piece in pieces)
            with open(directory / files.file_name(index, p), "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                if p == 0:
                    after_first()
                handle.write(data[len(data) // 2 :])
                handle.flush()
                os.fsync(handle.fileno())
            records.append(files.FileRecord(len(data), _crc(data)))
        return records


def _crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)


class _TransactionReduce(MapReduceWorker):
    """A reduce commit as one MULTI/EXEC that trusts the transaction and ignores what
    XACK returned (a stale commit is applied too)."""

    command = "zadd"

    def commit_reduce(
        self, entry: Entry, partition: int, merged: tuple[Any, Any], digest: str,
        ctx: dict[str, Any],
    ) -> str:  # fmt: skip
        words, counts = merged
        cp.reach(cp.REDUCE_BEFORE_COMMIT, **ctx)
        k, client = self.keys, self.session.client

        def apply() -> None:
            pipe = client.pipeline(transaction=True)
            pipe.xack(k.reduces, GROUP, entry.entry_id)
            for word, n in zip(words.to_pylist(), list(counts.to_pylist()), strict=True):
                if self.command == "zincrby":
                    pipe.zincrby(k.counts, n, word)
                else:
                    pipe.zadd(k.counts, {word: n})
            pipe.sadd(k.reduced, partition)
            pipe.execute()

        self.session.call(apply)
        _call(self, "mrb_finish", [k.job, k.map_outputs, k.reduced], [])
        return ""


class IncrementingReduce(_TransactionReduce):
    """3. The reduce commit increments (ZINCRBY) instead of setting (ZADD) each word's
    count: a straggler whose reduce task was stolen adds its partition a second time.
    (:class:`SettingReduce`, the same commit with ZADD, stays exact.)"""

    command = "zincrby"


class SettingReduce(_TransactionReduce):
    """Not a variant: the control of :class:`IncrementingReduce`. It also ignores XACK's
    result, but sets the final counts, so a repeated commit changes nothing."""


@dataclasses.dataclass
class _VariantEngine(MapReduceEngine):
    worker_class: type[MapReduceWorker] = MapReduceWorker
    release_early: bool = False

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        info = super().bootstrap(client, keys, settings, tasks)
        if self.release_early:
            library = _BuggyLibrary(client)
            library.fcall("mrb_release", [keys.job, keys.reduces], [GROUP])
        return info

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.worker_class(client, job_id, **options)


def reduce_early() -> Engine:
    return _VariantEngine(worker_class=ReduceEarly, release_early=True)


def in_place() -> Engine:
    return _VariantEngine(worker_class=InPlace)


def incrementing_reduce() -> Engine:
    return _VariantEngine(worker_class=IncrementingReduce)


def setting_reduce() -> Engine:
    return _VariantEngine(worker_class=SettingReduce)


VARIANTS = {
    "reduce_early": "faults.buggy_mapreduce:reduce_early",
    "in_place": "faults.buggy_mapreduce:in_place",
    "incrementing_reduce": "faults.buggy_mapreduce:incrementing_reduce",
}
"""Name -> ``--engine`` spec of every known-buggy MapReduce variant."""
