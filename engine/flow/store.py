"""Every Redis call of a dataflow job, for its driver and its workers.

The same policies as the word count: each call retries transient failures until a
deadline (:func:`engine.connection.call`), the function library is reloaded when a
restarted Redis lost it, and a missing stream or group means Redis lost the job.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.exceptions as rex

from engine import connection
from engine.errors import JobConflictError
from engine.keys import FLOW_LIBRARY, GROUP, FlowKeys
from engine.session import GroupMissingError, consumer_name

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class FlowJob:
    """A snapshot of a dataflow job's hash."""

    program: str
    state: str
    stage: int
    n_stages: int
    partitions: int
    claim_timeout_ms: int

    @property
    def finished(self) -> bool:
        return self.state == "done"


@dataclasses.dataclass(frozen=True)
class FlowDelivery:
    entry_id: str
    stage: int
    partition: int
    deliveries: int = 1
    claimed: bool = False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FlowStore:
    """One client's view of one dataflow job."""

    def __init__(
        self,
        client: redis.Redis,
        job_id: str,
        *,
        consumer: str | None = None,
        deadline_s: float = connection.DEFAULT_DEADLINE_S,
    ) -> None:
        self.client = client
        self.keys = FlowKeys(job_id)
        self.consumer = consumer or consumer_name()
        self.deadline_s = deadline_s
        self._code = importlib.resources.files("engine").joinpath("flow.lua").read_text("utf-8")

    def call(self, operation: Callable[[], T]) -> T:
        try:
            return connection.call(self.client, operation, deadline_s=self.deadline_s)
        except rex.ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc):
                raise GroupMissingError(str(exc)) from exc
            raise

    def fcall(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        def once() -> Any:
            try:
                return self.client.fcall(name, len(keys), *keys, *args)
            except rex.ResponseError as exc:
                if "Function not found" not in str(exc):
                    raise
            loaded = self.client.function_load(self._code, replace=True)
            assert _text(loaded) == FLOW_LIBRARY, f"library loaded as {loaded!r}"
            return self.client.fcall(name, len(keys), *keys, *args)

        return self.call(once)

    def job(self) -> FlowJob | None:
        raw: dict[bytes, bytes] = self.call(lambda: self.client.hgetall(self.keys.job))  # type: ignore[arg-type,return-value]
        if raw.get(b"kind") != b"flow" or b"state" not in raw:
            return None
        return FlowJob(
            program=_text(raw[b"program"]),
            state=_text(raw[b"state"]),
            stage=int(raw[b"stage"]),
            n_stages=int(raw[b"n_stages"]),
            partitions=int(raw[b"partitions"]),
            claim_timeout_ms=int(raw[b"claim_timeout_ms"]),
        )

    def bootstrap(
        self,
        program: str,
        n_stages: int,
        blobs: Sequence[bytes],
        claim_timeout_ms: int,
    ) -> str:
        keys = [self.keys.job, self.keys.tasks]
        keys += [self.keys.data(0, p) for p in range(len(blobs))]
        args = [GROUP, program, n_stages, len(blobs), claim_timeout_ms, *blobs]
        try:
            return _text(self.fcall("flow_bootstrap", keys, args))
        except rex.ResponseError as exc:
            if "exists with another" not in str(exc):
                raise
            raise JobConflictError(
                f"job {self.keys.job_id!r} already exists with another program or kind: "
                "choose another --job ID, or delete it with `wordcount delete`"
            ) from None

    def claim_stale(self, min_idle_ms: int) -> FlowDelivery | None:
        """XAUTOCLAIM one task idle for ``min_idle_ms`` (its worker died or stalled)."""
        cursor = "0-0"
        while True:  # XAUTOCLAIM looks at a few entries per call: follow its cursor
            reply: list[Any] = self.call(
                lambda start=cursor: self.client.xautoclaim(  # type: ignore[misc]
                    self.keys.tasks, GROUP, self.consumer, min_idle_ms, start, count=1
                )
            )
            entries = [e for e in reply[1] if e and e[1]]
            if entries:
                break
            cursor = _text(reply[0])
            if cursor == "0-0":
                return None
        entry_id, fields = _text(entries[0][0]), entries[0][1]
        rows: list[dict[str, Any]] = self.call(
            lambda: self.client.xpending_range(self.keys.tasks, GROUP, entry_id, entry_id, 1)
        )
        times = int(rows[0]["times_delivered"]) if rows else 1
        return FlowDelivery(
            entry_id, int(fields[b"stage"]), int(fields[b"partition"]), times, claimed=True
        )

    def read_new(self, block_ms: int | None) -> FlowDelivery | None:
        reply: Any = self.call(
            lambda: self.client.xreadgroup(
                GROUP, self.consumer, {self.keys.tasks: ">"}, count=1, block=block_ms
            )
        )
        if not reply:
            return None
        entry_id, fields = reply[0][1][0]
        return FlowDelivery(_text(entry_id), int(fields[b"stage"]), int(fields[b"partition"]))

    def inputs(self, stage: int, partition: int) -> dict[int, bytes]:
        raw: dict[bytes, bytes] = self.call(
            lambda: self.client.hgetall(  # type: ignore[arg-type,return-value]
                self.keys.data(stage, partition)
            )
        )
        return {int(k): v for k, v in raw.items()}

    def renew(self, entry_id: str) -> bool:
        args = [GROUP, self.consumer, entry_id]
        return bool(self.fcall("flow_renew", [self.keys.tasks], args))

    def commit(
        self, delivery: FlowDelivery, out_keys: Sequence[str], blobs: Sequence[bytes]
    ) -> tuple[bool, str]:
        keys = [self.keys.tasks, self.keys.job, self.keys.runs, *out_keys]
        args = [
            GROUP,
            self.consumer,
            delivery.entry_id,
            delivery.stage,
            delivery.partition,
            delivery.partition,
            *blobs,
        ]
        reply = self.fcall("flow_commit", keys, args)
        return int(reply[0]) == 1, _text(reply[1])

    def result(self) -> dict[int, bytes]:
        raw: dict[bytes, bytes] = self.call(lambda: self.client.hgetall(self.keys.result))  # type: ignore[arg-type,return-value]
        return {int(k): v for k, v in raw.items()}

    def run_id(self) -> str:
        return str(self.call(lambda: self.client.info("server"))["run_id"])
