"""Named crash points: the places where a fault changes what the engine does next.

The engine calls :func:`reach` at each of them. Nothing happens unless a hook is
installed, which costs one global lookup and a comparison with ``None`` per call. The
fault-injection suite installs its hook in worker processes through the environment
variable :data:`HOOK_ENV` (``module:function``), so the engine never imports it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

WORKER_AFTER_READ = "worker.after_read"
"""A worker has received a new task from XREADGROUP and has not read the file yet."""
WORKER_AFTER_CLAIM = "worker.after_claim"
"""A worker has stolen a stale task with XAUTOCLAIM."""
WORKER_AFTER_COUNT = "worker.after_count"
"""A worker has counted its task locally; nothing is in Redis yet."""
WORKER_BEFORE_COMMIT = "worker.before_commit"
"""Partial counts are staged (if any); the atomic commit is next."""
WORKER_AFTER_COMMIT = "worker.after_commit"
"""The commit returned (accepted or refused)."""
DRIVER_BOOTSTRAP = "driver.bootstrap"
"""The driver has added ``added`` of ``total`` tasks (called after every batch)."""
DRIVER_BEFORE_RESULT = "driver.before_result"
"""The job has finished; the driver has not read the counts yet."""
MAP_MID_WRITE = "map.mid_write"
"""MapReduce mode: a map task has written its first partition file under a temporary name
and renamed none yet."""
MAP_AFTER_WRITE = "map.after_write"
"""MapReduce mode: every partition file of a map task is in place; nothing is in Redis."""
MAP_BEFORE_COMMIT = "map.before_commit"
"""MapReduce mode: the map task's commit (ack and output record) is next."""
REDUCE_AFTER_MERGE = "reduce.after_merge"
"""MapReduce mode: a reduce task has checked and merged its partition of every output."""
REDUCE_MID_STAGE = "reduce.mid_stage"
"""MapReduce mode: a reduce task too large for one call has staged a part, not all."""
REDUCE_BEFORE_COMMIT = "reduce.before_commit"
"""MapReduce mode: the reduce task's commit (ack and final counts) is next."""
REDUCE_MID_APPLY = "reduce.mid_apply"
"""MapReduce mode: a staged reduce task is committed and some of its parts applied, not
all (the job cannot finish until someone applies the rest)."""
MAPREDUCE = (MAP_MID_WRITE, MAP_AFTER_WRITE, MAP_BEFORE_COMMIT, REDUCE_AFTER_MERGE,
             REDUCE_MID_STAGE, REDUCE_BEFORE_COMMIT, REDUCE_MID_APPLY)  # fmt: skip

ALL = (
    WORKER_AFTER_READ,
    WORKER_AFTER_CLAIM,
    WORKER_AFTER_COUNT,
    WORKER_BEFORE_COMMIT,
    WORKER_AFTER_COMMIT,
    DRIVER_BOOTSTRAP,
    DRIVER_BEFORE_RESULT,
    *MAPREDUCE,
)
HOOK_ENV = "WORDCOUNT_CRASH_HOOK"

Hook = Callable[[str, dict[str, Any]], None]
_hook: Hook | None = None


def reach(name: str, **context: Any) -> None:
    """Tell the installed hook, if any, that this crash point was reached."""
    if _hook is not None:
        _hook(name, context)


def install(hook: Hook | None) -> None:
    """Install (or with ``None`` remove) the hook of this process."""
    global _hook
    _hook = hook


def forget_after_fork() -> None:
    """In a child forked from a process with a hook: drop the parent's hook, closing its
    connection if it has one (its owner's ``close``), so that the hook's other end sees
    the parent's end when the parent ends, not when its last child does."""
    close = getattr(getattr(_hook, "__self__", None), "close", None)
    install(None)
    if callable(close):
        close()


def install_from_env() -> None:
    """Install the hook named by :data:`HOOK_ENV`, if set (called at process start)."""
    spec = os.environ.get(HOOK_ENV)
    if not spec:
        return
    module_name, _, attr = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attr or "install")
    install(factory())
