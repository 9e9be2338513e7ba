"""A worker's conversation with Redis: every stream and function call it makes.

Keeping these in one class gives the fault suite one place that defines what a worker
reads and writes, and gives every call the same retry policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgpack
import redis
import redis.exceptions as rex

from engine import connection
from engine.functions import Library
from engine.heartbeat import alive_ttl_ms
from engine.job import JobInfo, group_figures, read_job
from engine.keys import GROUP, JobKeys
from engine.pack import pack_pairs
from engine.tasks import Task

__all__ = ["CommitResult", "Delivery", "WorkerSession", "pack_pairs"]
T = TypeVar("T")
STAGE_TTL_MS = 24 * 3600 * 1000
STALE_SCAN = 64
"""Stale entries looked at per claim attempt (those of live owners are skipped)."""


class GroupMissingError(Exception):
    """The job's stream or group is gone: Redis lost its data and the job must be rebuilt."""


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A task handed to this worker, by a read or a claim."""

    entry_id: str
    task: Task
    deliveries: int = 1
    claimed: bool = False


@dataclasses.dataclass(frozen=True)
class CommitResult:
    accepted: bool
    reason: str = ""


def orphaned_after_ms(claim_timeout_ms: int) -> int:
    """Idle this long, a task of a worker that says it is working is not one it holds:
    longer than any heartbeat of a live worker can be late (its liveness key would have
    expired)."""
    return alive_ttl_ms(claim_timeout_ms) + claim_timeout_ms


def consumer_name() -> str:
    """Unique per process and host, so a restarted worker never inherits a dead one's tasks."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class WorkerSession:
    """Redis operations of one worker (one consumer of the group)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: JobKeys,
        *,
        consumer: str | None = None,
        deadline_s: float = connection.DEFAULT_DEADLINE_S,
    ) -> None:
        self.client = client
        self.keys = keys
        self.consumer = consumer or consumer_name()
        self.deadline_s = deadline_s
        self.library = Library(client)
        self._in_flight = 0
        self._count_lock = threading.Lock()

    def _call(self, operation: Callable[[], T]) -> T:
        with self._count_lock:
            self._in_flight += 1
        try:
            return connection.call(self.client, operation, deadline_s=self.deadline_s)
        except rex.ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                raise GroupMissingError(str(exc)) from exc
            raise
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def waiting(self) -> bool:
        """Whether a work thread is inside a Redis call: waiting for Redis is not a
        stall (each try ends within the socket timeout, and a slow Redis is everyone's)."""
        return self._in_flight > 0

    def job(self) -> JobInfo | None:
        return self._call(lambda: read_job(self.client, self.keys))

    def claim_stale(self, min_idle_ms: int) -> Delivery | None:
        """XCLAIM one task idle for at least ``min_idle_ms`` whose owner is not known to
        be alive and working (its liveness key does not say ``working``): it died, or
        its heartbeat says it stalled (engine/heartbeat.py). So a theft is always from a
        worker that failed, and its delivery count is a count of failed attempts. A task
        of a working owner is stolen only once idle for :func:`orphaned_after_ms`: its
        heartbeat renews every task it holds, so it no longer holds that one (its commit
        failed for good) and nobody else would ever take it.

        One XPENDING ... IDLE says in one call which entries are stale and whose they are.
        """
        stale: list[dict[str, Any]] = self._call(
            lambda: self.client.xpending_range(
                self.keys.tasks, GROUP, "-", "+", STALE_SCAN, idle=min_idle_ms
            )
        )
        if not stale:
            return None
        owners = sorted({_text(row["consumer"]) for row in stale})
        states: list[bytes | str | None] = self._call(
            lambda: self.client.mget([self.keys.alive(owner) for owner in owners])
        )
        working = {owner for owner, state in zip(owners, states, strict=True)
                   if state == b"working"}  # fmt: skip
        orphan_ms = orphaned_after_ms(min_idle_ms)
        for row in stale:
            if _text(row["consumer"]) in working and row["time_since_delivered"] < orphan_ms:
                continue
            entry_id = _text(row["message_id"])
            claimed: list[Any] = self._call(
                lambda entry=entry_id: self.client.xclaim(  # type: ignore[misc]
                    self.keys.tasks, GROUP, self.consumer, min_idle_ms, [entry]
                )
            )
            entries = [e for e in claimed if e and e[1]]
            if entries:
                task = Task.from_fields(entries[0][1])
                return Delivery(entry_id, task, self.deliveries(entry_id), claimed=True)
        return None

    def heartbeat(self, entry_ids: list[str], ttl_ms: int, state: str) -> list[bool]:
        """Write this consumer's liveness key and renew the claims of ``entry_ids``; per
        entry, ``False`` if it is no longer ours. Tries for one liveness period at most:
        the next heartbeat follows soon."""
        keys = [self.keys.tasks, self.keys.alive(self.consumer)]
        args = [GROUP, self.consumer, ttl_ms, state, *entry_ids]
        owned = connection.call(
            self.client, lambda: self.library.fcall("wc_heartbeat", keys, args),
            deadline_s=ttl_ms / 1000,
        )  # fmt: skip
        return [bool(flag) for flag in owned]

    def farewell(self) -> None:
        """Drop the liveness key when the worker exits cleanly (best effort)."""
        with contextlib.suppress(rex.RedisError, OSError):
            self.client.delete(self.keys.alive(self.consumer))

    def deliveries(self, entry_id: str) -> int:
        rows: list[dict[str, Any]] = self._call(
            lambda: self.client.xpending_range(self.keys.tasks, GROUP, entry_id, entry_id, 1)
        )
        return int(rows[0]["times_delivered"]) if rows else 0

    def read_new(self, block_ms: int | None) -> Delivery | None:
        """XREADGROUP one task never delivered before, waiting up to ``block_ms``.

        ``None`` does not wait at all (redis-py reads ``block=0`` as "wait forever").
        """
        reply: Any = self._call(
            lambda: self.client.xreadgroup(
                GROUP, self.consumer, {self.keys.tasks: ">"}, count=1, block=block_ms
            )
        )
        if not reply:
            return None
        entry_id, fields = reply[0][1][0]
        return Delivery(_text(entry_id), Task.from_fields(fields))

    def renew(self, entry_id: str) -> bool:
        """Reset the task's idle time; ``False`` if it is no longer ours."""
        return self.renew_all([entry_id])[0]

    def renew_all(self, entry_ids: Sequence[str]) -> list[bool]:
        """Reset the tasks' idle time in one round trip; per task, ``False`` if it is no
        longer ours."""
        owned = self._call(
            lambda: self.library.fcall("wc_renew", [self.keys.tasks],
                                       [GROUP, self.consumer, *entry_ids])
        )  # fmt: skip
        return [bool(flag) for flag in owned]

    def stage_key(self, first_entry: str) -> str:
        """A staging hash of its own for one commit attempt: no other attempt writes to
        it, so nothing an earlier one left behind can be mistaken for this one's parts."""
        return self.keys.stage(f"{first_entry}:{self.consumer}:{secrets.token_hex(4)}")

    def stage(self, stage_key: str, entry_id: str, part: int, packed: bytes) -> bool:
        """Store part ``part`` (1, 2, ...) of a batch's counts under ``stage_key``;
        ``False`` if the batch's first task ``entry_id`` is no longer ours."""
        keys = [self.keys.tasks, stage_key]
        args = [GROUP, self.consumer, entry_id, part, packed, STAGE_TTL_MS]
        return bool(self._call(lambda: self.library.fcall("wc_stage", keys, args)))

    def commit(
        self,
        entry_ids: Sequence[str],
        packed: bytes,
        nbytes: int,
        stage_key: str | None = None,
        parts: int = 0,
    ) -> CommitResult:
        """Acknowledge the tasks and add their counts in one atomic, idempotent step.

        With ``stage_key``, the ``parts`` staged there are checked and recorded for
        :meth:`apply`, which merges them into the counts one bounded call at a time.
        """
        stage_keys = [stage_key] if stage_key else []
        keys = [self.keys.tasks, self.keys.counts, self.keys.job, self.keys.done,
                self.keys.applying, *stage_keys]  # fmt: skip
        args = [
            GROUP,
            self.consumer,
            msgpack.packb(list(entry_ids), use_bin_type=False),
            packed,
            nbytes,
            parts if stage_key else 0,
        ]
        reply = self._call(lambda: self.library.fcall("wc_commit", keys, args))
        if int(reply[0]) == 1:
            return CommitResult(True)
        return CommitResult(False, _text(reply[1]))

    def apply(self, stage_key: str) -> int:
        """Merge one staged part of a committed batch; the number of parts left."""
        keys = [self.keys.job, self.keys.applying, self.keys.counts, stage_key]
        return int(self._call(lambda: self.library.fcall("wc_apply", keys, [])))

    def apply_all(self, stage_key: str, step: Callable[[], None] | None = None) -> None:
        """Merge every part left under ``stage_key``, one bounded call each."""
        while self.apply(stage_key) > 0:
            if step is not None:
                step()

    def resume_applications(self) -> None:
        """Finish the applications that a worker left in flight (it died, or was robbed
        of its connection): they would hold the job open for ever."""
        ledger: dict[bytes | str, bytes | str] = self._call(
            lambda: self.client.hgetall(self.keys.applying)
        )
        for stage_key in ledger:
            self.apply_all(_text(stage_key))

    def discard_stage(self, stage_key: str) -> None:
        """Delete an attempt's staging hash, unless its commit went through after all
        (its reply lost): then it is being applied and must stay."""
        keys = [self.keys.applying, stage_key]
        self._call(lambda: self.library.fcall("wc_unstage", keys, []))

    def dead_letter(self, delivery: Delivery, error: str) -> bool:
        """Give up on a task: move it to the dead-letter stream with the error."""
        keys = [self.keys.tasks, self.keys.dead, self.keys.job]
        task = delivery.task
        args = [GROUP, self.consumer, delivery.entry_id, task.index, task.describe(), error]
        return bool(self._call(lambda: self.library.fcall("wc_dead_letter", keys, args)))

    def finished(self) -> bool:
        """The job is over: ready, nothing pending, nothing undelivered (or marked finished)."""
        info = self.job()
        if info is None:
            return False
        if info.finished:
            return True
        if info.applying:
            self.resume_applications()
            return False
        figures = self._call(lambda: group_figures(self.client, self.keys))
        return info.state == "ready" and figures == (0, 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
