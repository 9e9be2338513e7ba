"""The driver: bootstrap a job, supervise its workers, wait, and collect the result.

The driver holds no state that Redis does not also hold, so a driver that crashes can
be started again with the same ``--job`` and picks up where the job is.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence

import redis

from engine import connection, replica_sync
from engine import crashpoints as cp
from engine.embedded import EmbeddedWatch
from engine.errors import InputError
from engine.inputs import DEFAULT_CHUNK_BYTES, expand_inputs
from engine.job import (
    JobInfo,
    JobSettings,
    drop_stale_stages,
    inputs_digest,
    needs_bootstrap,
    read_job,
)
from engine.keys import JobKeys
from engine.mapreduce.engine import after_job, with_mode
from engine.nodes.base import Persistence, RedisNode
from engine.plugins import Engine, engine_spec, load_engine
from engine.progress import Progress
from engine.results import FailedInput, failed_inputs, read_counts, top_words
from engine.roots import ROOTS_ENV, WorkerRoots, job_roots
from engine.supervisor import WorkerPool
from engine.tasks import Task
from engine.tokenize import Tokenizer
from engine.watchdog import HungWorkerWatch

log = logging.getLogger("wordcount.driver")
POLL_S = 0.05
"""How often the driver looks at the job: a run ends at most this long after its job."""


@dataclasses.dataclass
class RunOptions:
    paths: Sequence[str]
    workers: int = 2
    redis_url: str | None = None
    job_id: str | None = None
    tokenizer: Tokenizer = dataclasses.field(default_factory=Tokenizer)
    csv_column: str | None = None
    max_attempts: int = 5
    claim_timeout_ms: int = 10_000
    max_respawns: int | None = None
    top: int = 10
    read_all: bool = False
    persistence: Persistence = dataclasses.field(default_factory=Persistence)
    progress: bool | None = None
    on_redis: Callable[[str, str], Callable[[], None]] | None = None
    """Called with the Redis URL and job ID once Redis answers (``run --serve``); what it
    returns is called when the run ends, before an embedded Redis stops."""
    worker_env: dict[str, str] = dataclasses.field(default_factory=dict)
    engine: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    input_roots: Sequence[str] = ()
    replicas: int = 0
    """Embedded mode: replicas (with 3 Sentinels) besides the primary; 0, one plain Redis."""
    mode: str = "stream"
    """stream, mapreduce or auto (``engine.mapreduce``; the command line's default: auto)."""
    intermediate: str | None = None
    reduces: int = 0


@dataclasses.dataclass
class RunResult:
    job_id: str
    info: JobInfo
    top: list[tuple[str, int]]
    failed: list[FailedInput]
    counts: Counter[str] | None = None


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def prepare(options: RunOptions) -> tuple[list[Task], JobSettings]:
    """The job's tasks and settings from the options: what ``run`` bootstraps, and what
    ``POST /jobs`` (engine/web) bootstraps for workers started elsewhere."""
    tasks = expand_inputs(
        options.paths, csv_column=options.csv_column, chunk_bytes=options.chunk_bytes
    )
    check_csv_columns(tasks)
    input_roots = job_roots(options.paths, tasks, options.input_roots)
    settings = JobSettings(
        options.tokenizer,
        options.max_attempts,
        options.claim_timeout_ms,
        inputs_digest(tasks),
        chunk_bytes=options.chunk_bytes,
        input_roots=input_roots,
    )
    return tasks, settings


def run(options: RunOptions) -> RunResult:
    """Run a whole job, on the given Redis or on an embedded one."""
    engine = load_engine(options.engine)
    make_watch = getattr(engine, "embedded_watch", EmbeddedWatch)  # before the mode's wrapper
    tasks, settings = prepare(options)
    job_id = options.job_id or new_job_id()
    engine = with_mode(engine, options.engine, options.mode, intermediate=options.intermediate,
                       reduces=options.reduces, workers=options.workers)  # fmt: skip
    node: RedisNode | None = None
    at_end: Callable[[], None] | None = None
    watch: EmbeddedWatch | None = None
    roots = WorkerRoots(settings.input_roots)
    options.worker_env[ROOTS_ENV] = roots.value  # not from Redis: trusted
    try:
        if options.redis_url is None:
            from engine.nodes.factory import embedded_node

            node = embedded_node(persistence=options.persistence, replicas=options.replicas)
            node.start()
            watch = make_watch(node)
            watch.start()
        url = options.redis_url or node.url  # type: ignore[union-attr]
        client = connection.connect(url)
        connection.check(client)
        at_end = options.on_redis(url, job_id) if options.on_redis else None
        result = _drive(client, url, JobKeys(job_id), settings, tasks, options, engine, watch)
        after_job(engine)
        return result
    finally:
        roots.close()
        if at_end is not None:
            at_end()
        if watch is not None:
            watch.stop()
            connection.abort_retries(None)
        if node is not None:
            node.close()


def check_csv_columns(tasks: Sequence[Task]) -> None:
    """Stop before starting if a CSV input lacks the text column: it could never be counted."""
    for task in tasks:
        if task.kind != "csv":
            continue
        try:
            with open(task.path, encoding="utf-8", errors="surrogateescape", newline="") as f:
                header = next(csv.reader(f), [])
        except OSError as exc:
            raise InputError(f"cannot read {task.path}: {exc.strerror or exc}") from exc
        if header and task.column not in header:
            raise InputError(
                f"{task.path} has no column {task.column!r}; its columns are "
                f"{', '.join(header)}: choose one with --csv-column"
            )


def _drive(
    client: redis.Redis,
    url: str,
    keys: JobKeys,
    settings: JobSettings,
    tasks: Sequence[Task],
    options: RunOptions,
    engine: Engine,
    embedded: EmbeddedWatch | None = None,
) -> RunResult:
    info = engine.bootstrap(client, keys, settings, tasks)
    pool = WorkerPool(
        url,
        keys.job_id,
        options.workers,
        max_respawns=options.max_respawns,
        env=options.worker_env,
        extra_args=["--engine", engine_spec(options.engine)],
    )
    progress = Progress(enabled=options.progress)
    unconfirmed = 0  # result checks in a row that --sync-replicas could not confirm
    grace_s = 0.0  # interrupted (Ctrl-C, SIGTERM) or failed: stop the workers at once
    try:
        while True:
            if not info.finished:
                if not pool.procs:
                    pool.start()
                info = _wait(client, keys, settings, tasks, pool, progress, engine, embedded)
            cp.reach(cp.DRIVER_BEFORE_RESULT, job=keys.job_id)
            if not replica_sync.result_replicated(client):  # --sync-replicas: a split brain's
                unconfirmed = _back_off(unconfirmed)  # old side, or a failover under way
                continue
            unconfirmed = 0
            result = _read_result(client, keys, options)
            if result is not None:
                grace_s = 5.0
                return result
            log.warning("Redis lost part of the finished job before its result was read")
            info = dataclasses.replace(info, state="lost")
    finally:
        progress.close()
        pool.stop(grace_s=grace_s)


def _back_off(tries: int) -> int:
    """Sleep before asking again whether the finished job is replicated (0.1 s, doubling
    up to 2 s): a Sentinel can name a dead node for as long as that node stays down, and
    asking in a tight loop took a core for the whole wait."""
    time.sleep(min(2.0, 0.1 * 2**tries))
    return min(tries + 1, 5)


def _read_result(client: redis.Redis, keys: JobKeys, options: RunOptions) -> RunResult | None:
    """The result, or ``None`` if Redis restarted meanwhile and the job is no longer done.

    A restart from an older snapshot can undo the end of a job after the driver saw it
    finish; reading the counts then would report a partial count as final. A restart
    always changes the server's run_id, so an unchanged run_id and a finished state on
    both sides of the reads mean the reads saw the finished job.
    """

    def run_id() -> str:
        return str(client.info("server")["run_id"])

    before = connection.call(client, run_id)
    info = connection.call(client, lambda: read_job(client, keys))
    if info is None or not info.finished:
        return None
    result = RunResult(
        job_id=keys.job_id,
        info=info,
        top=top_words(client, keys, options.top),
        failed=failed_inputs(client, keys),
        counts=read_counts(client, keys) if options.read_all else None,
    )
    after = connection.call(client, lambda: read_job(client, keys))
    if connection.call(client, run_id) != before or after is None or not after.finished:
        return None
    drop_stale_stages(client, keys)
    return result


def _wait(
    client: redis.Redis,
    keys: JobKeys,
    settings: JobSettings,
    tasks: Sequence[Task],
    pool: WorkerPool,
    progress: Progress,
    engine: Engine,
    embedded: EmbeddedWatch | None = None,
) -> JobInfo:
    """Poll the job until it finishes, keeping workers alive (an embedded Redis has its
    own watch: engine/embedded.py)."""
    watch = HungWorkerWatch(client, keys, settings.claim_timeout_ms, pool)
    while True:
        if embedded is not None:
            embedded.between_polls()
        found = connection.call(client, lambda: read_job(client, keys))
        if found is None or needs_bootstrap(found):
            log.warning("job %s is %s (data lost); bootstrapping again", keys.job_id,
                        "gone from Redis" if found is None
                        else "only partly in Redis")  # fmt: skip
            found = engine.bootstrap(client, keys, settings, tasks)
        info = found
        if info.finished:
            return info
        pool.check()
        watch.check()
        if pool.alive() < pool.size:
            # Workers that quit saw the job finished where this connection sees it not: in
            # a split brain it may be the old master's (alive, and still master until the
            # Sentinels demote it), so ask the Sentinels again before replacing anyone.
            client.connection_pool.disconnect()
            info = connection.call(client, lambda: read_job(client, keys)) or info
            if not info.finished:
                pool.replace_exited()
        progress.update(info, pool.alive())
        time.sleep(POLL_S)
