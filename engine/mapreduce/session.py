"""The MapReduce worker's conversation with Redis: reads and claims on either stream, and
the calls into the ``wordcount_mr`` function library, all with the engine's retry policy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions as rex

from engine import connection
from engine.functions import Library
from engine.keys import GROUP, MAPREDUCE_LIBRARY, JobKeys
from engine.session import GroupMissingError, consumer_name

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

    def call(self, operation: Callable[[], T]) -> T:
        try:
            return connection.call(self.client, operation, deadline_s=self.deadline_s)
        except rex.ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                raise GroupMissingError(str(exc)) from exc
            raise

    def phase(self) -> Phase | None:
        def look() -> Any:
            pipe = self.client.pipeline(transaction=True)
            pipe.hmget(self.keys.job, "state", "n_tasks", "tasks_failed", "intermediate",
                       "n_reduces", "settings")  # fmt: skip
            pipe.hlen(self.keys.map_outputs)
            return pipe.execute()

        (state, n, failed, where, m, settings), recorded = self.call(look)
        if settings is None:
            return None
        return Phase(_text(state or b"?"), int(n or 0), int(recorded) + int(failed or 0),
                     _text(where or b""), int(m or 0))  # fmt: skip

    def take(self, stream: str, min_idle_ms: int, block_ms: int | None) -> Entry | None:
        """A stale entry of ``stream`` (XAUTOCLAIM), else a new one (XREADGROUP)."""
        stale: list[dict[str, Any]] = self.call(
            lambda: self.client.xpending_range(stream, GROUP, "-", "+", 1, idle=min_idle_ms)
        )
        if stale:
            entry_id = _text(stale[0]["message_id"])
            claimed: Any = self.call(
                lambda: self.client.xclaim(stream, GROUP, self.consumer, min_idle_ms, [entry_id])
            )
            entries = [e for e in claimed if e and e[1]]
            if entries:
                return Entry(entry_id, _fields(entries[0][1]), self._deliveries(stream, entry_id))
        new: Any = self.call(
            lambda: self.client.xreadgroup(
                GROUP, self.consumer, {stream: ">"}, count=1, block=block_ms
            )
        )
        if not new:
            return None
        entry_id, fields = new[0][1][0]
        return Entry(_text(entry_id), _fields(fields))

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

    def stage(self, stage_key: str, entry_id: str, number: int, packed: bytes) -> bool:
        """Store part ``number`` (1, 2, ...) of a reduce task's counts under ``stage_key``
        (``wc_stage``: one hash field per part); ``False`` if the task is no longer ours."""
        keys = [self.keys.reduces, stage_key]
        args = [GROUP, self.consumer, entry_id, number, packed, STAGE_TTL_MS]
        return bool(self.call(lambda: self.base_library.fcall("wc_stage", keys, args)))


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _fields(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}
