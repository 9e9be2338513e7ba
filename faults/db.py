"""The database role: the Redis node of one run, the harm done to it, and what it holds.

:class:`DB` wraps a :class:`~engine.nodes.base.RedisNode` with the nemesis' primitive
actions (kill and restart from disk, restart with the disk wiped, pause, snapshot), each
recorded in the history, and with the two reads the checker needs: an atomic sample of a
job's counts and acknowledged set while it runs, and its whole final state.

Reads go through the job-key layout of :mod:`engine.keys`, which is part of the engine's
contract with any implementation (see :mod:`engine.plugins`), not through engine code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from engine.errors import NodeError
from engine.keys import JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import ManagedNode
from engine.tokenize import decode
from faults.errors import RunnerError
from faults.history import History
from faults.persisted import EMPTY, Persisted, read_persisted

if TYPE_CHECKING:
    from faults.warm import WarmPool

T = TypeVar("T")
NEMESIS = "nemesis"
READ_TIMEOUT_S = 5.0
DEFAULT_BUSY_MS = 5000
"""Redis's own busy threshold (``busy-reply-threshold``)."""
SAMPLE_TIMEOUT_S = 0.5
FINAL_READ_TIMEOUT_S = 120.0
"""The final read of a million-word job on a machine at a load of 30 outlasted 5 s: it is
read once, after every engine process is gone, so it may take its time."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """The job as one atomic read saw it (``time`` in seconds since the run started)."""

    time: float
    done: frozenset[str]
    counts: dict[str, int]
    state: str | None
    applying: bool = False
    """A large commit's staged parts were still being merged (engine/wordcount.lua): the
    counts are between two consistent states, so the cut is not one to judge."""


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    entry: str
    index: int
    error: str
    consumer: str


@dataclasses.dataclass(frozen=True)
class FinalState:
    """What Redis holds for the job once the run is over. ``job`` is ``None`` when Redis
    has no such job (its data was lost after the job finished); ``entries`` maps each
    stream entry ID to its task index."""

    counts: dict[str, int]
    done: frozenset[str]
    dead: tuple[DeadLetter, ...]
    job: dict[str, str] | None
    entries: dict[str, int]


def make_node(backend: str, persistence: Persistence) -> RedisNode:
    """A fresh, unstarted node of ``backend`` (``process``, ``docker`` or ``auto``)."""
    from engine.nodes.factory import make_node as factory

    try:
        return factory(backend, persistence=persistence)  # type: ignore[arg-type]
    except NodeError as exc:
        raise RunnerError(f"cannot create a {backend} Redis node: {exc}") from exc


class DB:
    """One run's Redis node. ``owned`` nodes are closed (data removed) by :meth:`teardown`."""

    def __init__(
        self,
        node: RedisNode,
        history: History,
        *,
        owned: bool,
        pool: WarmPool | None = None,
        backend: str = "",
        warm: bool = False,
    ) -> None:
        self.node = node
        self.history = history
        self.owned = owned
        self.pool = pool
        """Where an owned node goes at teardown (emptied for the next run) instead of closing."""
        self.backend = backend
        self.warm = warm
        """The node ran an earlier scenario and was emptied since (:mod:`faults.warm`)."""
        self.busy_ms = 0
        """The scenario's busy threshold (``settings.busy_ms``; 0: Redis's default), set
        at every start: a restart forgets what CONFIG SET changed."""

    @property
    def url(self) -> str:
        return self.node.url

    def setup(self) -> None:
        try:
            self.node.start()
            if self.pool is not None and not self.warm:
                self.pool.adopt(self.node)
        except (NodeError, redis.RedisError) as exc:
            raise RunnerError(f"cannot start Redis for the run: {exc}") from exc
        self._configure()
        started = {"persistence": str(self.node.persistence), "warm": self.warm}
        self.history.add("ok", NEMESIS, "redis-start", started)

    def _configure(self, busy_ms: int | None = None) -> None:
        if busy_ms or self.busy_ms:
            threshold = str(busy_ms or self.busy_ms)
            self.read(lambda c: c.config_set("busy-reply-threshold", threshold))

    def teardown(self) -> None:
        """Close the node if this run made it (or give it back to the warm pool); else hand
        it back running, not paused. Either way with Redis's default busy threshold."""
        if self.owned and self.pool is not None:
            if self.busy_ms:  # the warm pool reuses only nodes with their start-up config
                with contextlib.suppress(redis.RedisError, OSError):
                    self._configure(DEFAULT_BUSY_MS)
            self.pool.give_back(self.node, self.backend)
        elif self.owned:
            self.node.close()  # stops (resuming first) and removes its data
        elif self.node.is_running():
            self.node.resume()
            if self.busy_ms:
                self._configure(DEFAULT_BUSY_MS)

    # --- the nemesis' primitive actions ------------------------------------------------

    def kill(self, keys: JobKeys, downtime_ms: int, *, wipe: bool) -> dict[str, Any]:
        """SIGKILL and restart (from disk, or with the disk wiped) after ``downtime_ms``.

        Returns what Redis came back with, read before any client could write
        (:mod:`faults.persisted`), and ``restart_at``, the moment it started: the checker
        needs both to tell a lost commit from a duplicated one.
        """
        self.node.kill()
        time.sleep(downtime_ms / 1000)
        return self._start_again(keys, wipe=wipe)

    def kill_starting(self, keys: JobKeys, downtime_ms: int) -> dict[str, Any]:
        """Kill, and kill again the server started in its place while it starts: only an
        embedded Redis has a restart that is not the runner's (:mod:`faults.embedded_db`)."""
        raise NodeError("redis-kill-starting needs an embedded Redis (settings.embedded)")

    def restart_empty(self, keys: JobKeys) -> dict[str, Any]:
        """Stop gracefully (clients see their connections closed, not reset), wipe the
        disk and start again at once: a server replaced by an empty one."""
        self.node.stop()
        return self._start_again(keys, wipe=True)

    def _start_again(self, keys: JobKeys, *, wipe: bool) -> dict[str, Any]:
        node = self.node
        if wipe or not isinstance(node, ManagedNode):
            state = EMPTY if wipe else None
        else:
            state = read_persisted(node, keys)
        restart_at = self.history.now()
        node.restart(wipe=wipe)  # it is down: no kill, no wait; wipe, then start
        self._configure()
        if state is None:  # a node without a data directory of ours: read it racily
            done = self.read(lambda c: sorted(_text(e) for e in c.smembers(keys.done)))
            state = Persisted(tuple(done), self.read(lambda c: c.exists(keys.job)) == 1)
        return {**state.to_data(), "restart_at": round(restart_at, 6)}

    def pause(self, ms: int) -> dict[str, Any]:
        self.node.pause()
        try:
            time.sleep(ms / 1000)
        finally:
            self.node.resume()
        return {}

    def snapshot(self) -> dict[str, Any]:
        self.node.bgsave()
        return {}

    def group_fault(self, action: str, keys: JobKeys, ms: int) -> dict[str, Any]:
        """A replicated group's fault (:class:`faults.group_db.GroupDB`): one node has no
        primary to kill or cut off. Scenarios refuse these kinds first; this is the guard
        for a node given by hand."""
        raise NodeError(
            f"{action} needs a replicated group: set settings.replicas to 2 (this run has "
            "a single Redis node)"
        )

    # --- reads -------------------------------------------------------------------------

    def read(
        self, operation: Callable[[redis.Redis], T], *, tries: int = 3,
        timeout_s: float = READ_TIMEOUT_S,
    ) -> T:  # fmt: skip
        """Run a read on a fresh client, retrying a connection hiccup a few times."""
        for attempt in range(tries):
            client = self.node.client(
                socket_timeout=timeout_s, socket_connect_timeout=READ_TIMEOUT_S
            )
            try:
                return operation(client)
            except (redis.ConnectionError, redis.TimeoutError):
                if attempt == tries - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
            finally:
                client.close()
        raise AssertionError("unreachable")

    def sampler_client(self) -> redis.Redis:
        return self.node.client(
            socket_timeout=SAMPLE_TIMEOUT_S, socket_connect_timeout=SAMPLE_TIMEOUT_S
        )

    def cut_client(self) -> redis.Redis:
        """The sampler's client for its consistent cuts (a large one may take a while)."""
        return self.node.client(
            socket_timeout=READ_TIMEOUT_S, socket_connect_timeout=SAMPLE_TIMEOUT_S
        )

    @staticmethod
    def sample(client: redis.Redis, keys: JobKeys, now: float) -> Sample:
        """Counts, acknowledged set and state in one MULTI/EXEC: a consistent cut."""
        pipe = client.pipeline(transaction=True)
        pipe.zrange(keys.counts, 0, -1, withscores=True)
        pipe.smembers(keys.done)
        pipe.hmget(keys.job, "state", "applying")
        counts, done, (state, applying) = pipe.execute()
        return Sample(
            time=now,
            done=frozenset(_text(e) for e in done),
            counts={decode(word): int(score) for word, score in counts},
            state=None if state is None else _text(state),
            applying=int(applying or 0) > 0,
        )

    def final_state(self, keys: JobKeys) -> FinalState:
        """Everything the checker judges, read once the engine processes are gone."""

        def read(client: redis.Redis) -> FinalState:
            pipe = client.pipeline(transaction=True)
            pipe.zrange(keys.counts, 0, -1, withscores=True)
            pipe.smembers(keys.done)
            pipe.xrange(keys.dead)
            pipe.hgetall(keys.job)
            pipe.xrange(keys.tasks)
            counts, done, dead, job, tasks = pipe.execute()
            return FinalState(
                counts={decode(word): int(score) for word, score in counts},
                done=frozenset(_text(e) for e in done),
                dead=tuple(_dead_letter(entry, fields) for entry, fields in dead),
                job={_text(k): _text(v) for k, v in job.items()} or None,
                entries={_text(e): int(f.get(b"index", b"-1")) for e, f in tasks},
            )

        return self.read(read, timeout_s=FINAL_READ_TIMEOUT_S)


def _dead_letter(entry: bytes, fields: dict[bytes, bytes]) -> DeadLetter:
    return DeadLetter(
        entry=_text(fields.get(b"entry", entry)),
        index=int(fields.get(b"index", b"-1")),
        error=decode(fields.get(b"error", b"")),
        consumer=_text(fields.get(b"consumer", b"")),
    )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
