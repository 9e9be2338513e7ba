"""Reading a job's state from Redis for the API, with commands whose cost is bounded.

Every read here is one the job can afford while it runs: ``SCAN`` with ``COUNT``,
``XRANGE``/``XPENDING`` with ``COUNT``, ``SMISMEMBER`` on a page of IDs, ``ZREVRANGE`` of
the top ``k``; never ``KEYS``, a whole stream or a whole sorted set. A listing that hits
its bound says so (``truncated``, or a ``next`` cursor) instead of reading on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
import redis.exceptions as rex

from engine.keys import GROUP, JOB_KEY_PATTERN, JobKeys, job_id_from_key
from engine.web.models import (
    JobList,
    JobSummary,
    Settings,
    TaskPage,
    TaskRow,
    TaskState,
    TopWords,
    WordCount,
)

MAX_JOBS = 1000
"""Jobs listed at most by one ``GET /jobs``."""
SCAN_COUNT = 500
PAGE = 200
"""Stream entries read per XRANGE while filtering tasks by state."""
MAX_SCANNED = 5000
"""Stream entries one task listing looks at before it answers with a cursor."""
MAX_DEAD = 1000
MAX_TIES = 10_000
"""Words tied with the k-th that ``top`` ranks by their bytes; past that, Redis's order."""


def text(value: bytes | str | None) -> str:
    """Text for JSON: bytes that are not UTF-8 shown as ``\\xXX``, as the terminal shows them."""
    if value is None:
        return ""
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _int(raw: dict[bytes, bytes], name: str) -> int | None:
    value = raw.get(name.encode())
    return None if value is None else int(value)


def summary(job_id: str, raw: dict[bytes, bytes]) -> JobSummary:
    """A job's hash as the API shows it."""
    return JobSummary(
        id=job_id,
        state=text(raw.get(b"state", b"?")),
        tasks_done=_int(raw, "tasks_done") or 0,
        tasks_failed=_int(raw, "tasks_failed") or 0,
        tasks_total=_int(raw, "n_tasks") or 0,
        bytes_done=_int(raw, "bytes_done") or 0,
        bytes_total=_int(raw, "bytes_total") or 0,
        started_ms=_int(raw, "created_ms"),
        finished_ms=_int(raw, "finished_ms"),
    )


def settings(raw: dict[bytes, bytes]) -> Settings:
    data = json.loads(raw[b"settings"])
    return Settings(
        split_on=str(data.get("split_on", "")),
        lower=bool(data.get("lower", False)),
        max_attempts=int(data.get("max_attempts", 0)),
        claim_timeout_ms=int(data.get("claim_timeout_ms", 0)),
        chunk_bytes=int(data.get("chunk_bytes", 0)),
        inputs_digest=str(data.get("inputs_digest", "")),
    )


def job_hash(client: redis.Redis, keys: JobKeys) -> dict[bytes, bytes] | None:
    """The job's hash, or ``None`` if there is no such job (no settings stored)."""
    raw: dict[bytes, bytes] = client.hgetall(keys.job)  # type: ignore[assignment]
    return raw if b"settings" in raw else None


def list_jobs(client: redis.Redis) -> JobList:
    """Every job in this Redis (up to :data:`MAX_JOBS`), newest first."""
    names: list[str] = []
    truncated = False
    for key in client.scan_iter(match=JOB_KEY_PATTERN, count=SCAN_COUNT):
        if len(names) == MAX_JOBS:
            truncated = True
            break
        names.append(job_id_from_key(text(key)))
    pipe = client.pipeline(transaction=False)
    for job_id in names:
        pipe.hgetall(JobKeys(job_id).job)
    jobs = [
        summary(job_id, raw)
        for job_id, raw in zip(names, pipe.execute(), strict=True)
        if b"settings" in raw
    ]
    jobs.sort(key=lambda j: (-(j.started_ms or 0), j.id))
    return JobList(jobs=jobs, truncated=truncated)


def group_info(client: redis.Redis, keys: JobKeys) -> dict[str, Any] | None:
    """XINFO GROUPS' entry for the workers' group, or ``None`` before the group exists."""
    try:
        groups: list[dict[str, Any]] = client.xinfo_groups(keys.tasks)
    except rex.ResponseError:
        return None
    for group in groups:
        if text(group["name"]) == GROUP:
            return group
    return None


def consumers(client: redis.Redis, keys: JobKeys) -> list[dict[str, Any]]:
    """XINFO CONSUMERS: name, pending, idle (and inactive on Redis 7.2+) per worker."""
    try:
        rows: list[dict[str, Any]] = client.xinfo_consumers(keys.tasks, GROUP)
    except rex.ResponseError:
        return []
    return rows


def pending_sample(client: redis.Redis, keys: JobKeys, count: int) -> list[dict[str, Any]]:
    """Up to ``count`` pending entries, oldest first (entry, owner, idle, deliveries)."""
    try:
        rows: list[dict[str, Any]] = client.xpending_range(keys.tasks, GROUP, "-", "+", count)
    except rex.ResponseError:
        return []
    return rows


def dead_count(client: redis.Redis, keys: JobKeys) -> int:
    return int(client.xlen(keys.dead))


def dead_letters(
    client: redis.Redis, keys: JobKeys, count: int = MAX_DEAD
) -> list[tuple[str, dict[str, str]]]:
    """The first ``count`` dead-letter entries: (stream ID, fields)."""
    rows: list[Any] = client.xrange(keys.dead, count=count)  # type: ignore[assignment]
    return [(text(rid), {text(k): text(v) for k, v in fields.items()}) for rid, fields in rows]


def _sid(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


def _row(entry: str, fields: dict[bytes, bytes], state: TaskState) -> TaskRow:
    f = {text(k): text(v) for k, v in fields.items()}
    return TaskRow(
        entry=entry,
        index=int(f.get("index", "-1")),
        path=f.get("path", ""),
        kind=f.get("kind", "text"),
        start=int(f.get("start", "0")),
        end=int(f.get("end", "-1")),
        size=int(f.get("size", "0")),
        state=state,
    )


def _with_pending(row: TaskRow, info: dict[str, Any]) -> TaskRow:
    row.state = "pending"
    row.owner = text(info["consumer"])
    row.idle_ms = int(info["time_since_delivered"])
    row.deliveries = int(info["times_delivered"])
    return row


def entries(client: redis.Redis, keys: JobKeys, ids: Sequence[str]) -> list[Any]:
    pipe = client.pipeline(transaction=False)
    for entry in ids:
        pipe.xrange(keys.tasks, entry, entry, count=1)
    return [rows[0] if rows else None for rows in pipe.execute()]


def pending_tasks(client: redis.Redis, keys: JobKeys, after: str | None, limit: int) -> TaskPage:
    """The pending entries straight from XPENDING, ``limit`` at a time."""
    low = f"({after}" if after else "-"
    try:
        rows: list[dict[str, Any]] = client.xpending_range(keys.tasks, GROUP, low, "+", limit)
    except rex.ResponseError:
        rows = []
    ids = [text(r["message_id"]) for r in rows]
    tasks = [
        _with_pending(_row(entry, found[1], "pending"), info)
        for entry, info, found in zip(ids, rows, entries(client, keys, ids), strict=True)
        if found is not None
    ]
    return TaskPage(tasks=tasks, next=ids[-1] if len(ids) == limit else None)


def tasks(
    client: redis.Redis, keys: JobKeys, state: TaskState | None, after: str | None, limit: int
) -> TaskPage:
    """A page of the job's tasks in stream order, optionally only those in ``state``.

    Looks at no more than :data:`MAX_SCANNED` entries per call; ``next`` says where to go on.
    """
    if state == "pending":
        return pending_tasks(client, keys, after, limit)
    group = group_info(client, keys)
    last = _sid(text(group["last-delivered-id"])) if group else (0, 0)
    errors: dict[str, str] | None = None
    found: list[TaskRow] = []
    start, scanned = (f"({after}" if after else "-"), 0
    while scanned < MAX_SCANNED:
        page: list[Any] = client.xrange(keys.tasks, start, "+", count=PAGE)  # type: ignore[assignment]
        if not page:
            return TaskPage(tasks=found, next=None)
        rows = _classify(client, keys, page, last)
        if errors is None and any(r.state == "dead" for r in rows):
            errors = {f.get("entry", ""): f.get("error", "") for _, f in dead_letters(client, keys)}
        for row in rows:
            scanned += 1
            if row.state == "dead" and errors is not None:
                row.error = errors.get(row.entry, "(error not in the first dead letters)")
            if state is None or row.state == state:
                found.append(row)
            if len(found) == limit:
                return TaskPage(tasks=found, next=row.entry)
        start = f"({rows[-1].entry}"
    return TaskPage(tasks=found, next=start[1:])


def _classify(
    client: redis.Redis, keys: JobKeys, page: list[Any], last: tuple[int, int]
) -> list[TaskRow]:
    """Each entry's state: undelivered past the group's last delivery, pending if in the
    PEL, done if in the done set, else dead (acknowledged without a commit)."""
    ids = [text(rid) for rid, _ in page]
    try:
        pel: list[dict[str, Any]] = client.xpending_range(
            keys.tasks, GROUP, ids[0], ids[-1], len(ids)
        )
    except rex.ResponseError:
        pel = []
    pending = {text(p["message_id"]): p for p in pel}
    done = client.smismember(keys.done, ids)
    rows = []
    for (entry, (_, fields)), is_done in zip(zip(ids, page, strict=True), done, strict=True):
        if entry in pending:
            rows.append(_with_pending(_row(entry, fields, "pending"), pending[entry]))
        elif _sid(entry) > last:
            rows.append(_row(entry, fields, "undelivered"))
        else:
            rows.append(_row(entry, fields, "done" if is_done else "dead"))
    return rows


def top(client: redis.Redis, keys: JobKeys, k: int) -> TopWords:
    """The ``k`` most frequent words, ties at the k-th count ranked by their bytes as the
    serial tool does (up to :data:`MAX_TIES` of them)."""
    head: list[tuple[bytes, float]] = client.zrevrange(  # type: ignore[assignment]
        keys.counts, 0, k - 1, withscores=True
    )
    if len(head) == k:
        kth = head[-1][1]
        above = [(w, s) for w, s in head if s > kth]
        ties: list[tuple[bytes, float]] = client.zrangebyscore(  # type: ignore[assignment]
            keys.counts, kth, kth, start=0, num=MAX_TIES, withscores=True
        )
        head = above + ties
    ranked = sorted(head, key=lambda ws: (-ws[1], ws[0]))[:k]
    words = [WordCount(word=text(w), count=int(s)) for w, s in ranked]
    return TopWords(job=keys.job_id, words=words)
