"""A job as it lives in Redis: its settings, its state, and bootstrapping its tasks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import msgpack
import redis
import redis.exceptions as rex

from engine import connection, crashpoints
from engine.errors import ConfigError, JobConflictError, JobNotFoundError, RedisUnavailableError
from engine.functions import Library
from engine.heartbeat import MIN_CLAIM_TIMEOUT_MS
from engine.keys import GROUP, JobKeys
from engine.tasks import Task
from engine.tokenize import Tokenizer

BOOTSTRAP_BATCH = 500
BOOTSTRAP_BATCH_ENV = "WORDCOUNT_BOOTSTRAP_BATCH"
"""Overrides :data:`BOOTSTRAP_BATCH`, so fault scenarios can crash between small batches."""
BOOTSTRAP_TRIES = 10
FINISHED_STATES = ("done", "failed")


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """What every worker of a job must agree on; stored with the job, read by workers."""

    tokenizer: Tokenizer = dataclasses.field(default_factory=Tokenizer)
    max_attempts: int = 5
    claim_timeout_ms: int = 10_000
    inputs_digest: str = ""
    chunk_bytes: int = 0
    """The chunk size the tasks were split with (0: one task per file). The digest alone
    would not tell two sizes apart when no file is large enough to split."""
    input_roots: tuple[str, ...] = ()
    """Where workers may read files (:mod:`engine.roots`); empty: anywhere."""

    def __post_init__(self) -> None:
        if self.chunk_bytes < 0:
            raise ConfigError(f"--chunk-size must be 0 or more, got {self.chunk_bytes}")
        if self.max_attempts < 1:
            raise ConfigError(f"--max-attempts must be at least 1, got {self.max_attempts}")
        if self.claim_timeout_ms < MIN_CLAIM_TIMEOUT_MS:
            raise ConfigError(
                f"--claim-timeout {self.claim_timeout_ms}ms is too short to be honoured (a "
                f"worker renews its claims every quarter of it): use {MIN_CLAIM_TIMEOUT_MS}ms "
                "or more"
            )

    def to_json(self) -> str:
        """Canonical JSON: equal settings give equal text, which is how conflicts are seen."""
        data = {
            "split_on": self.tokenizer.split_on,
            "lower": self.tokenizer.lower,
            "max_attempts": self.max_attempts,
            "claim_timeout_ms": self.claim_timeout_ms,
            "inputs_digest": self.inputs_digest,
            "chunk_bytes": self.chunk_bytes,
            "input_roots": list(self.input_roots),
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JobSettings:
        data = json.loads(text)
        return cls(
            tokenizer=Tokenizer(data["split_on"], bool(data["lower"])),
            max_attempts=int(data["max_attempts"]),
            claim_timeout_ms=int(data["claim_timeout_ms"]),
            inputs_digest=str(data.get("inputs_digest", "")),
            chunk_bytes=int(data.get("chunk_bytes", 0)),
            input_roots=tuple(str(r) for r in data.get("input_roots", ())),
        )


def inputs_digest(tasks: Sequence[Task]) -> str:
    """A fingerprint of the task list, so resuming a job with other inputs is refused."""
    text = json.dumps([t.to_fields() for t in tasks], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """A snapshot of a job's hash."""

    state: str
    n_tasks: int
    tasks_done: int
    tasks_failed: int
    bytes_done: int
    bytes_total: int
    settings: JobSettings
    applying: int = 0
    """Commits whose staged parts are still being merged (engine/wordcount.lua)."""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


def read_job(client: redis.Redis, keys: JobKeys) -> JobInfo | None:
    """The job's state, or ``None`` if Redis has no such job (yet, or any more)."""
    raw: dict[bytes, bytes] = client.hgetall(keys.job)  # type: ignore[assignment]
    if b"settings" not in raw:
        return None

    def number(name: str) -> int:
        return int(raw.get(name.encode(), b"0"))

    return JobInfo(
        state=raw.get(b"state", b"?").decode(),
        n_tasks=number("n_tasks"),
        tasks_done=number("tasks_done"),
        tasks_failed=number("tasks_failed"),
        bytes_done=number("bytes_done"),
        bytes_total=number("bytes_total"),
        settings=JobSettings.from_json(raw[b"settings"]),
        applying=number("applying"),
    )


def require_job(client: redis.Redis, keys: JobKeys) -> JobInfo:
    info = connection.call(client, lambda: read_job(client, keys))
    if info is None:
        raise JobNotFoundError(
            f"no job {keys.job_id!r} in Redis at {connection.describe(client)}: "
            "check --job and --redis-url (`wordcount status` lists the jobs)"
        )
    return info


def group_figures(client: redis.Redis, keys: JobKeys) -> tuple[int, int | None] | None:
    """The group's (pending, lag), or ``None`` if the stream or group does not exist."""
    try:
        groups: list[dict[str, Any]] = client.xinfo_groups(keys.tasks)
    except rex.ResponseError:
        return None
    for group in groups:
        if group["name"] in (GROUP, GROUP.encode()):
            lag = group.get("lag")
            return int(group["pending"]), None if lag is None else int(lag)
    return None


def bootstrap(
    client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
) -> JobInfo:
    """Create the job and add its tasks; safe to run again after any crash, adds each once.

    Returns only once Redis holds the whole job (``ready`` or finished). If Redis loses
    data while this runs (a restart without persistence, or from a snapshot taken
    mid-bootstrap), the task list comes up short, or the job is gone or back in state
    ``bootstrapping`` by the end: the whole bootstrap simply runs again.
    """
    library = Library(client)
    problem = "the job kept vanishing"
    for _ in range(BOOTSTRAP_TRIES):
        try:
            info = _bootstrap_once(client, library, keys, settings, tasks)
        except rex.ResponseError as exc:
            if "tasks" not in str(exc) and "no such job" not in str(exc):
                raise
            problem = str(exc)
            continue
        if info is not None and info.state != "bootstrapping":
            return info
    raise RedisUnavailableError(
        f"Redis at {connection.describe(client)} lost job {keys.job_id!r} {BOOTSTRAP_TRIES} "
        f"times while it was being created (last: {problem}); check its persistence and "
        "memory limits, then run again with the same --job"
    )


def _bootstrap_once(
    client: redis.Redis,
    library: Library,
    keys: JobKeys,
    settings: JobSettings,
    tasks: Sequence[Task],
) -> JobInfo | None:
    total = len(tasks)
    size = bootstrap_batch()
    for start in range(0, max(total, 1), size):
        batch = tasks[start : start + size]
        packed = msgpack.packb(
            [[t.index, *_flatten(t.to_fields())] for t in batch], use_bin_type=False
        )
        _add(client, library, keys, settings, packed)
        crashpoints.reach(crashpoints.DRIVER_BOOTSTRAP, added=start + len(batch), total=total)
    nbytes = sum(t.size for t in tasks)
    connection.call(
        client, lambda: library.fcall("wc_mark_ready", [keys.tasks, keys.job], [total, nbytes])
    )
    return connection.call(client, lambda: read_job(client, keys))


def needs_bootstrap(info: JobInfo | None) -> bool:
    """Whether the driver must (re)run the bootstrap: the job is missing from Redis, or
    its task list is not complete (Redis came back from a snapshot taken mid-bootstrap)."""
    return info is None or info.state == "bootstrapping"


def bootstrap_batch() -> int:
    """Tasks added per call: :data:`BOOTSTRAP_BATCH`, or ``$WORDCOUNT_BOOTSTRAP_BATCH``."""
    text = os.environ.get(BOOTSTRAP_BATCH_ENV, "").strip()
    if not text:
        return BOOTSTRAP_BATCH
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"${BOOTSTRAP_BATCH_ENV} = {text!r}: use a positive whole number")
    return int(text)


def _add(
    client: redis.Redis, library: Library, keys: JobKeys, settings: JobSettings, packed: bytes
) -> None:
    try:
        connection.call(
            client,
            lambda: library.fcall(
                "wc_add_tasks", [keys.tasks, keys.job], [GROUP, settings.to_json(), packed]
            ),
        )
    except rex.ResponseError as exc:
        if "other settings" in str(exc):
            stored = str(exc).partition("other settings: ")[2]
            raise JobConflictError(
                f"job {keys.job_id!r} already exists with other settings or inputs"
                f"{_differences(stored, settings)}: resume it with the same inputs and "
                "options, choose another --job ID, or delete the old job with `wordcount delete`"
            ) from exc
        raise


def _differences(stored: str, ours: JobSettings) -> str:
    """`` (chunk_bytes: 16777216 there, 0 here)``: what differs, when the stored settings
    can be read, so the user knows which option to change."""
    try:
        theirs = json.loads(stored)
    except ValueError:
        return ""
    mine = json.loads(ours.to_json())
    if not isinstance(theirs, dict):
        return ""
    names = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    shown = ", ".join(f"{k}: {theirs.get(k)!r} there, {mine.get(k)!r} here" for k in names)
    return f" ({shown})" if shown else ""


def _flatten(fields: dict[str, str]) -> list[bytes]:
    out: list[bytes] = []
    for name, value in fields.items():
        out += [name.encode(), value.encode("utf-8", "surrogateescape")]
    return out


def drop_stale_stages(client: redis.Redis, keys: JobKeys) -> int:
    """Delete the staging hashes of a finished job that attempts left behind (a worker
    that died between staging and committing); none is in flight once the job finished.
    Returns how many were deleted."""

    def drop() -> int:
        applying = {_name(k) for k in client.hkeys(keys.applying)}
        stale = [k for k in client.scan_iter(keys.stage_pattern) if _name(k) not in applying]
        return int(client.delete(*stale)) if stale else 0

    return connection.call(client, drop)


def _name(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
