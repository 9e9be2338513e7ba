"""The MapReduce mode as an :class:`engine.plugins.Engine`, and choosing the mode of a run.

The bootstrap records the mode, the intermediate directory and the number of reduce
partitions in the job's hash before adding any task, so every worker that sees the job
sees its mode; :func:`worker_for_job` is how the default engine's workers dispatch on it.
A resumed job keeps the mode it was started with.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import redis
import redis.exceptions as rex

from engine import connection, crashpoints
from engine.errors import ConfigError, JobConflictError
from engine.job import (
    BOOTSTRAP_TRIES,
    JobInfo,
    JobSettings,
    _add,
    _flatten,
    bootstrap_batch,
    require_job,
)
from engine.keys import GROUP, JobKeys
from engine.mapreduce import files
from engine.mapreduce.session import MapReduceLibrary
from engine.plugins import Engine, Runnable
from engine.tasks import Task

MODES = ("stream", "mapreduce", "auto")
DEFAULT_MODE = "auto"
AUTO_MIN_BYTES = 64 << 20
"""``--mode auto`` runs MapReduce from this much input on; below it the stream mode's
lower fixed cost wins (see docs/mapreduce.md for the measurements)."""
BYTES_PER_REDUCE = 128 << 20
"""Input per reduce partition. Each map writes one file per partition, each fsynced
(about 6 ms apiece on the development machine), so fewer partitions cost less (a reduce
commit sets 100,000 words per call, in as many calls as it needs), and a reducer's memory
grows with its partition: on a 2 GB file of the Zipf corpus with its long tail of rare
words, 256 MB per partition took a worker to 311 MB of RSS."""
MAX_REDUCES = 64
INTERMEDIATE_ENV = "WORDCOUNT_INTERMEDIATE"


def intermediate_base(option: str | None) -> Path:
    """``--intermediate``, else ``$WORDCOUNT_INTERMEDIATE``, else the system's temp dir."""
    text = option or os.environ.get(INTERMEDIATE_ENV)
    base = Path(text) if text else Path(tempfile.gettempdir(), "wordcount-intermediate")
    return base.absolute()


def default_reduces(tasks: Sequence[Task], workers: int) -> int:
    """Reduce partitions: one per 128 MB of input, at least one per worker, at most 64."""
    total = sum(t.size for t in tasks)
    return max(1, workers, min(MAX_REDUCES, math.ceil(total / BYTES_PER_REDUCE)))


@dataclasses.dataclass
class MapReduceEngine:
    """Bootstrap a job in MapReduce mode; its workers run :class:`MapReduceWorker`."""

    intermediate: str | None = None
    reduces: int = 0
    workers: int = 2
    directory: Path | None = None
    """The job's intermediate directory, once bootstrapped (for cleaning up)."""
    max_pairs: int = 0
    """Word counts per Redis call of a reduce commit (0: the default, 100,000)."""
    max_parts: int = 0
    """If set, staged parts per reduce commit at most (for :func:`small_parts`)."""

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        directory = intermediate_base(self.intermediate) / keys.job_id
        m = self.reduces or default_reduces(tasks, self.workers)
        library = MapReduceLibrary(client)
        for attempt in range(BOOTSTRAP_TRIES):
            try:
                recorded, _ = connection.call(
                    client, lambda: library.fcall("mr_declare", [keys.job], [str(directory), m])
                )
                self.directory = Path(recorded.decode("utf-8", "surrogateescape"))
                files.prepare(self.directory)
                return _bootstrap_once(client, library, keys, settings, tasks)
            except rex.ResponseError as exc:
                if "stream mode" in str(exc):
                    raise JobConflictError(
                        f"job {keys.job_id!r} already exists ({str(exc).split(': ', 1)[-1]}): "
                        "resume it with --mode stream, or choose another --job ID"
                    ) from exc
                if attempt == BOOTSTRAP_TRIES - 1 or (
                    "tasks" not in str(exc) and "no such job" not in str(exc)
                ):
                    raise
        raise AssertionError("unreachable")

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        from engine.mapreduce.worker import MapReduceWorker

        return MapReduceWorker(client, job_id, max_pairs=self.max_pairs,
                               max_parts=self.max_parts, **options)  # fmt: skip

    def cleanup(self) -> None:
        """Delete the job's intermediate directory (the job is over)."""
        if self.directory is not None:
            files.remove(self.directory)


def _bootstrap_once(
    client: redis.Redis, library: MapReduceLibrary, keys: JobKeys, settings: JobSettings,
    tasks: Sequence[Task],
) -> JobInfo:  # fmt: skip
    """Add the map tasks as the stream mode does, then mark the job ready."""
    size = bootstrap_batch()
    for start in range(0, max(len(tasks), 1), size):
        batch = tasks[start : start + size]
        packed = msgpack.packb(
            [[t.index, *_flatten(t.to_fields())] for t in batch], use_bin_type=False
        )
        _add(client, library_base(client), keys, settings, packed)
        crashpoints.reach(crashpoints.DRIVER_BOOTSTRAP, added=start + len(batch),
                          total=len(tasks))  # fmt: skip
    nbytes = sum(t.size for t in tasks)
    fkeys = [keys.tasks, keys.job, keys.map_outputs, keys.reduces]
    connection.call(
        client, lambda: library.fcall("mr_mark_ready", fkeys, [len(tasks), nbytes, GROUP])
    )
    return require_job(client, keys)


def library_base(client: redis.Redis) -> Any:
    from engine.functions import Library

    return Library(client)


@dataclasses.dataclass
class ModeEngine:
    """The default engine with a mode: stream, mapreduce, or auto (by input size). A job
    that exists already keeps its recorded mode."""

    base: Engine
    mode: str
    mapreduce: MapReduceEngine
    chosen: str = ""

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        if not self.chosen:
            self.chosen = _recorded_mode(client, keys) or self._decide(tasks)
        if self.chosen == "mapreduce":
            return self.mapreduce.bootstrap(client, keys, settings, tasks)
        return self.base.bootstrap(client, keys, settings, tasks)

    def _decide(self, tasks: Sequence[Task]) -> str:
        if self.mode != "auto":
            return self.mode
        return "mapreduce" if sum(t.size for t in tasks) >= AUTO_MIN_BYTES else "stream"

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        return self.base.worker(client, job_id, **options)


def _recorded_mode(client: redis.Redis, keys: JobKeys) -> str | None:
    raw = connection.call(client, lambda: client.hmget(keys.job, "settings", "mode"))
    settings, mode = raw
    if settings is None:
        return None
    return "mapreduce" if mode == b"mapreduce" else "stream"


def with_mode(
    engine: Engine, spec: str | None, mode: str, *, intermediate: str | None = None,
    reduces: int = 0, workers: int = 2,
) -> Engine:  # fmt: skip
    """The engine a run uses for ``--mode``: an engine that is MapReduce already (a
    variant under test) is kept; the default one gets the mode; another engine only
    runs the stream mode."""
    from engine.plugins import DEFAULT_ENGINE, engine_spec

    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: use stream, mapreduce or auto")
    if reduces < 0:
        raise ConfigError(f"--reduces must be 1 or more (0: automatic), got {reduces}")
    if isinstance(engine, MapReduceEngine):
        engine.intermediate = engine.intermediate or intermediate
        engine.reduces = engine.reduces or reduces
        engine.workers = workers
        return engine
    if engine_spec(spec) != DEFAULT_ENGINE:
        if mode == "mapreduce":
            raise ConfigError(f"--mode mapreduce needs this project's engine, not --engine {spec}")
        return engine
    return ModeEngine(engine, mode, MapReduceEngine(intermediate, reduces, workers))


def after_job(engine: Engine) -> None:
    """Clean the intermediate directory of a finished MapReduce job."""
    inner = engine.mapreduce if isinstance(engine, ModeEngine) else engine
    if isinstance(inner, MapReduceEngine):
        inner.cleanup()


def engine() -> Engine:
    """``--engine engine.mapreduce.engine:engine``: MapReduce mode, whatever ``--mode``."""
    return MapReduceEngine()


def small_parts() -> Engine:
    """``--engine engine.mapreduce.engine:small_parts``: the MapReduce mode with reduce
    commits in up to 8 parts of at least 3 words, so that the tests' small inputs are
    staged and applied in parts and reach the crash points between them (and a drawn
    input of 100,000 words is not committed 3 words per call: the property's liveness
    bound failed on that)."""
    return MapReduceEngine(max_pairs=3, max_parts=8)
