"""The MapReduce worker's conversation with Redis: reads and claims on either stream, and
the calls into the ``wordcount_mr`` function library, all with the engine's retry policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions as rex

from engine import connection
from engine.functions import Library
from engine.keys import GROUP, MAPREDUCE_LIBRARY, JobKeys
from engine.session import STALE_SCAN, GroupMissingError, consumer_name, orphaned_after_ms

T = TypeVar("T")
STAGE_TTL_MS = 24 * 3600 * 1000


class MapReduceLibrary(Library):
    """:class:`engine.functions.Library` for ``engine/mapreduce/mapreduce.lua``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._code = (
            importlib.resources.files("engine.mapreduce")
            .joinpath("mapreduce.lua")
            .read_text("utf-8")
        )

    def load(self) -> None:
        loaded = self.client.function_load(self._code, replace=True)
        name = loaded.decode() if isinstance(loaded, bytes) else str(loaded)
        assert name == MAPREDUCE_LIBRARY, f"library loaded as {name!r}"


@dataclasses.dataclass(frozen=True)
class Entry:
    """A stream entry handed to this worker: its ID, fields and delivery count."""

    entry_id: str
    fields: dict[str, str]
    deliveries: int = 1


@dataclasses.dataclass(frozen=True)
class Phase:
    """What the job needs now, from one look at its hash."""

    state: str
    n_maps: int
    settled: int
    intermediate: str
    n_reduces: int
    applying: int = 0
    """Committed reduce tasks whose staged parts are still being applied."""

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    @property
    def reducing(self) -> bool:
        return self.state == "ready" and self.settled >= self.n_maps


def outputs_digest(records: dict[int, str]) -> str:
    """What ``outputs_digest`` in mapreduce.lua computes: sha1 of the sorted records."""
    text = "".join(f"{k}={records[k]};" for k in sorted(records))
    return hashlib.sha1(text.encode()).hexdigest()


class MapReduceSession:
    """Redis operations of one MapReduce worker."""

    def __init__(self, client: redis.Redis, keys: JobKeys, *, deadline_s: float) -> None:
        self.client = client
        self.keys = keys
        self.consumer = consumer_name()
        self.deadline_s = deadline_s
        self.library = MapReduceLibrary(client)
        self.base_library = Library(client)
        self.in_flight = 0
        """Calls under way: waiting for Redis is not a stall (engine/heartbeat.py)."""

    def call(self, operation: Callable[[], T]) -> T:
        self.in_flight += 1
        try:
            return connection.call(self.client, operation, deadline_s=self.deadline_s)
        except rex.ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                raise GroupMissingError(str(exc)) from exc
            raise
        finally:
            self.in_flight -= 1

    def phase(self) -> Phase | None:
        def look() -> Any:
            pipe = self.client.pipeline(transaction=True)
            pipe.hmget(self.keys.job, "state", "n_tasks", "tasks_failed", "intermediate",
                       "n_reduces", "settings", "applying")  # fmt: skip
            pipe.hlen(self.keys.map_outputs)
            return pipe.execute()

        (state, n, failed, where, m, settings, applying), recorded = self.call(look)
        if settings is None:
            return None
        return Phase(_text(state or b"?"), int(n or 0), int(recorded) + int(failed or 0),
                     _text(where or b""), int(m or 0), int(applying or 0))  # fmt: skip

    def take(self, stream: str, min_idle_ms: int, block_ms: int | None) -> Entry | None:
        """A stale entry of ``stream``, else a new one (XREADGROUP)."""
        stolen = self._steal(stream, min_idle_ms)
        if stolen is not None:
            return stolen
        new: Any = self.call(
            lambda: self.client.xreadgroup(
                GROUP, self.consumer, {stream: ">"}, count=1, block=block_ms
            )
        )
        if not new:
            return None
        entry_id, fields = new[0][1][0]
        return Entry(_text(entry_id), _fields(fields))

    def _steal(self, stream: str, min_idle_ms: int) -> Entry | None:
        """XCLAIM an entry idle for ``min_idle_ms`` whose owner's liveness key does not
        say ``working`` (it died or stalled), or one idle for
        :func:`engine.session.orphaned_after_ms` whatever its owner says: the stream
        mode's rule (:meth:`engine.session.WorkerSession.claim_stale`)."""
        stale: list[dict[str, Any]] = self.call(
            lambda: self.client.xpending_range(
                stream, GROUP, "-", "+", STALE_SCAN, idle=min_idle_ms
            )
        )
        if not stale:
            return None
        owners = sorted({_text(row["consumer"]) for row in stale})
        states: list[Any] = self.call(
            lambda: self.client.mget([self.keys.alive(owner) for owner in owners])
        )
        working = {o for o, state in zip(owners, states, strict=True) if state == b"working"}
        orphan_ms = orphaned_after_ms(min_idle_ms)
        for row in stale:
            if _text(row["consumer"]) in working and row["time_since_delivered"] < orphan_ms:
                continue
            entry_id = _text(row["message_id"])
            claimed: Any = self.call(
                lambda e=entry_id: self.client.xclaim(  # type: ignore[misc]
                    stream, GROUP, self.consumer, min_idle_ms, [e]
                )
            )
            entries = [e for e in claimed if e and e[1]]
            if entries:
                return Entry(entry_id, _fields(entries[0][1]), self._deliveries(stream, entry_id))
        return None

    def _deliveries(self, stream: str, entry_id: str) -> int:
        rows: list[dict[str, Any]] = self.call(
            lambda: self.client.xpending_range(stream, GROUP, entry_id, entry_id, 1)
        )
        return int(rows[0]["times_delivered"]) if rows else 0

    def renew(self, stream: str, entry_id: str) -> bool:
        owned = self.call(
            lambda: self.base_library.fcall("wc_renew", [stream], [GROUP, self.consumer, entry_id])
        )
        return bool(owned[0])

    def fcall(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self.call(lambda: self.library.fcall(name, list(keys), list(args)))

    def records(self) -> dict[int, str]:
        raw: dict[bytes, bytes] = self.call(lambda: self.client.hgetall(self.keys.map_outputs))  # type: ignore[arg-type, return-value]
        return {int(k): _text(v) for k, v in raw.items()}

    def stage_key(self, entry_id: str) -> str:
        """A staging hash of this attempt alone (task, consumer, random token): no other
        attempt, stale or not, ever writes to it."""
        return self.keys.stage(f"r{entry_id}:{self.consumer}:{secrets.token_hex(4)}")

    def stage(self, stage_key: str, entry_id: str, number: int, packed: bytes) -> bool:
        """Store part ``number`` (1, 2, ...) of a reduce task's counts under ``stage_key``
        (``mr_stage``: one hash field per part); ``False`` if the task is no longer ours."""
        keys = [self.keys.reduces, stage_key]
        args = [GROUP, self.consumer, entry_id, number, packed, STAGE_TTL_MS]
        return bool(self.fcall("mr_stage", keys, args))

    def apply(self, stage_key: str) -> int:
        """Set the counts of one staged part of a committed reduce; the parts left."""
        keys = [self.keys.job, self.keys.applying, self.keys.counts, stage_key,
                self.keys.map_outputs]  # fmt: skip
        return int(self.fcall("mr_apply", keys, []))

    def apply_all(self, stage_key: str, between: Callable[[], None] | None = None) -> None:
        """Apply every part left under ``stage_key``, one bounded call each; ``between``
        runs after each call that left parts (a crash point)."""
        while self.apply(stage_key) > 0:
            if between is not None:
                between()

    def apply_pending(self) -> None:
        """Finish the applications in flight: those of reducers that died after their
        commit (the job cannot finish before)."""
        ledger = self.call(lambda: self.client.hkeys(self.keys.applying))
        for stage_key in ledger:
            self.apply_all(_text(stage_key))

    def unstage(self, stage_key: str) -> None:
        """Delete a refused attempt's staging hash (``wc_unstage`` keeps one that the
        ledger holds: a commit whose reply was lost went through)."""
        keys = [self.keys.applying, stage_key]
        self.call(lambda: self.base_library.fcall("wc_unstage", keys, []))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}
