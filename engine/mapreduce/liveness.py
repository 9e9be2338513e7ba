"""A MapReduce worker's liveness key, written by the stream mode's heartbeat thread.

The driver's hung-worker watch (engine/watchdog.py) replaces the owner of a task that has
sat idle past the claim timeout and a grace when the owner's liveness key does not say
``working``. MapReduce workers wrote no such key, so on a loaded machine, where a map
block can take longer than that, the watch killed healthy map workers again and again.
Their claims are still renewed by the task's own renewer (engine/mapreduce/worker.py);
this session only lets :class:`engine.heartbeat.Heartbeat` say whether the worker is
alive and moving.
"""

from __future__ import annotations

import contextlib

import redis.exceptions as rex

from engine import connection
from engine.keys import GROUP
from engine.mapreduce.session import MapReduceSession


class LivenessSession:
    """The :class:`engine.heartbeat.HeartbeatSession` of a MapReduce worker.

    The heartbeat also renews the claim of the task the worker holds (the heartbeat
    passes it only while the worker is not stalled), whatever the work is doing: the
    renewer between a map's steps could not renew during the count of one block, and
    under a short claim timeout live workers robbed each other until the task was
    dead-lettered (issue 11's bug 4, in this mode)."""

    def __init__(self, session: MapReduceSession) -> None:
        self.session = session
        self.streams: dict[str, str] = {}
        """The stream of each task the worker holds (map tasks and reduce tasks differ)."""

    def heartbeat(self, entry_ids: list[str], ttl_ms: int, state: str) -> list[bool]:
        s = self.session
        keys = [s.keys.tasks, s.keys.alive(s.consumer)]
        args = [GROUP, s.consumer, ttl_ms, state]  # entries are renewed on their streams
        connection.call(
            s.client, lambda: s.base_library.fcall("wc_heartbeat", keys, args),
            deadline_s=ttl_ms / 1000,
        )  # fmt: skip
        return [s.renew(self.streams.get(e, s.keys.tasks), e) for e in entry_ids]

    def farewell(self) -> None:
        with contextlib.suppress(rex.RedisError, OSError):
            self.session.client.delete(self.session.keys.alive(self.session.consumer))

    def waiting(self) -> bool:
        return self.session.in_flight > 0
