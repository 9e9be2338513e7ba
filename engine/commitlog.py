"""A Redis-independent record of what each worker counted and committed.

Replication can lose a commit that the primary accepted; the tasks are then counted
again, and the final counts are still exact, so only the workers' own account shows the
cost. With ``$WORDCOUNT_COMMIT_LOG`` set to a directory, every worker process appends one
JSON line per event to ``worker-<pid>.jsonl`` there: ``count`` (a task counted) and
``commit`` (a batch's commit returned, ``accepted`` or not; with ``--sync-replicas`` an
accepted commit is one that K replicas acknowledged). :mod:`faults.recompute` reads it.

It listens at the engine's crash points, in front of any hook already installed there
(the fault suite's), so it needs no change to the worker loop.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from engine import crashpoints as cp

LOG_ENV = "WORDCOUNT_COMMIT_LOG"
_EVENTS = {cp.WORKER_AFTER_COUNT: "count", cp.WORKER_AFTER_COMMIT: "commit"}
_lock = threading.Lock()
_active = False


def activate_from_env() -> None:
    """Start logging if ``$WORDCOUNT_COMMIT_LOG`` names a directory (once per process)."""
    global _active
    folder = os.environ.get(LOG_ENV)
    if not folder or _active:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = open(Path(folder, f"worker-{os.getpid()}.jsonl"), "a", encoding="utf-8")  # noqa: SIM115
    previous = cp._hook

    def hook(point: str, context: dict[str, Any]) -> None:
        if point in _EVENTS:
            _write(out, point, context)
        if previous is not None:
            previous(point, context)

    cp.install(hook)
    _active = True


def _write(out: TextIO, point: str, context: dict[str, Any]) -> None:
    indexes = context.get("indexes") or [context.get("index")]
    record: dict[str, Any] = {
        "t": time.time(),
        "pid": os.getpid(),
        "consumer": context.get("consumer"),
        "event": _EVENTS[point],
        "indexes": indexes,
    }
    if point == cp.WORKER_AFTER_COMMIT:
        record["accepted"] = bool(context.get("accepted"))
    line = json.dumps(record) + "\n"
    with _lock:
        out.write(line)
        out.flush()
