"""One reduce task: check, merge and commit partition p of every committed map output.

Every file is checked against the size and CRC its map's commit recorded before any is
merged. A missing or damaged file sends its map task back to the queue (``mr_redo_map``,
which also makes this reduce task stealable at once) and the worker returns to map work;
the reduce runs again once the map is committed again. The commit carries a digest of the
records merged, so a commit built on outputs that changed since is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import crashpoints as cp
from engine.keys import GROUP
from engine.mapreduce import files, mapcount, payload
from engine.mapreduce.session import Entry, Phase, outputs_digest
from engine.pack import array_header

if TYPE_CHECKING:
    from engine.mapreduce.worker import MapReduceWorker

log = logging.getLogger("wordcount.mapreduce")
TRIES = 3


def reduce_task(worker: MapReduceWorker, entry: Entry, phase: Phase) -> None:
    """Run the reduce task of ``entry``; a refused commit is retried a few times."""
    partition = int(entry.fields["partition"])
    ctx = worker._context(entry, partition=partition)
    for _ in range(TRIES):
        records = worker.session.records()
        merged = _merge(worker, entry, phase, partition, records)
        if merged is None:
            return  # a map was queued again; this reduce waits for it
        cp.reach(cp.REDUCE_AFTER_MERGE, **ctx)
        ordered = payload.sort_for_zadd(*merged)
        del merged  # the sorted copy replaces it: a large partition's peak memory halves
        reason = worker.commit_reduce(entry, partition, ordered, outputs_digest(records), ctx)
        del ordered
        if reason in ("", "not-owner"):
            return
        log.info("reduce %s refused (%s)", partition, reason)
        if reason == "maps-incomplete":  # a map runs again: let anyone take this later
            keys, args = [worker.keys.reduces], [GROUP, worker.session.consumer, entry.entry_id]
            worker.session.fcall("mr_release", keys, args)
            return


def _merge(
    worker: MapReduceWorker, entry: Entry, phase: Phase, partition: int,
    records: dict[int, str],
) -> tuple[Any, Any] | None:  # fmt: skip
    """Partition ``partition`` of every recorded output, merged; ``None`` if a file was
    lost or damaged (its map is then queued again)."""
    directory = Path(phase.intermediate)
    parts = []
    for index in sorted(records):
        fields = records[index].split(" ")
        size, _, crc = fields[1 + partition].partition(":")
        record = files.FileRecord(int(size), int(crc))
        raw = files.read_checked(directory / files.file_name(index, partition), record)
        if raw is None:
            _redo(worker, entry, index, records[index])
            return None
        parts.append(files.decode(raw))
    return mapcount.merge(parts)


def _redo(worker: MapReduceWorker, entry: Entry, index: int, record: str) -> None:
    from engine.tasks import Task

    log.warning("map output %d is lost or damaged; running map %d again", index, index)
    entry_id = f"{index + 1}-0"
    fields = worker.session.call(
        lambda: worker.session.client.xrange(worker.keys.tasks, entry_id, entry_id)
    )
    task_fields: list[Any] = []
    if fields:
        for k, v in Task.from_fields(fields[0][1]).to_fields().items():  # type: ignore[arg-type]
            task_fields += [k, v.encode("utf-8", "surrogateescape")]
    else:  # the original entry is gone (trimmed): rebuild it from a redo entry
        return
    keys = [worker.keys.tasks, worker.keys.job, worker.keys.done, worker.keys.map_outputs,
            worker.keys.reduces]  # fmt: skip
    args = [GROUP, worker.session.consumer, index, record, entry.entry_id, *task_fields]
    if worker.session.fcall("mr_redo_map", keys, args):
        worker.stats.redone += 1


def commit(
    worker: MapReduceWorker, entry: Entry, partition: int, merged: tuple[Any, Any],
    digest: str, ctx: dict[str, Any],
) -> str:  # fmt: skip
    """Commit the merged counts; the refusal reason, or "" if accepted.

    Up to ``worker.max_pairs`` words go inline in the commit; more are staged in parts of
    that size first (a hash of this attempt alone), and, once the commit has recorded
    them, applied one bounded call per part: no call does unbounded work.
    """
    session, keys = worker.session, worker.keys
    words, counts = merged  # sorted by (count, word) already
    del merged
    step = worker.max_pairs or payload.MAX_PAIRS_PER_CALL
    if worker.max_parts:
        step = max(step, -(-len(words) // worker.max_parts))
    stage_key, staged, inline = None, 0, array_header(0)
    if len(words) > step:
        stage_key = session.stage_key(entry.entry_id)
        staged = _stage(worker, entry, stage_key, payload.staged_parts(words, counts, step), ctx)
        if staged == 0:
            session.unstage(stage_key)
            return "not-owner"
    else:
        inline = payload.pack_scored(words, counts)
    del words, counts
    cp.reach(cp.REDUCE_BEFORE_COMMIT, **ctx)
    fkeys = [keys.reduces, keys.job, keys.counts, keys.reduced, keys.map_outputs,
             keys.applying, *([stage_key] if stage_key else [])]  # fmt: skip
    args = [GROUP, session.consumer, entry.entry_id, partition, inline, digest, staged]
    reply = session.fcall("mr_reduce_commit", fkeys, args)
    if int(reply[0]) != 1:
        if stage_key is not None:
            session.unstage(stage_key)
        worker.stats.refused += 1
        return str(reply[1].decode() if isinstance(reply[1], bytes) else reply[1])
    if stage_key is not None:
        session.apply_all(stage_key, lambda: cp.reach(cp.REDUCE_MID_APPLY, **ctx))
    worker.stats.reduces += 1
    return ""


def _stage(
    worker: MapReduceWorker, entry: Entry, stage_key: str, parts: list[bytes],
    ctx: dict[str, Any],
) -> int:  # fmt: skip
    """Stage every part; their number, or 0 if the task stopped being ours."""
    for number, part in enumerate(parts, start=1):
        if not worker.session.stage(stage_key, entry.entry_id, number, part):
            return 0
        if number < len(parts):
            cp.reach(cp.REDUCE_MID_STAGE, **ctx)
    return len(parts)
