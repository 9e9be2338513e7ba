"""``--sync-replicas K``: a commit counts as done only once K replicas have it.

Redis replicates asynchronously, so a commit the primary accepted can vanish in a
failover, and its tasks are then counted again. After each accepted commit the worker
sends ``WAIT K timeout`` on the connection that committed (WAIT waits for that
connection's last write, so it must be the same TCP connection, and must never be
silently resent on a new one). If fewer than K replicas answer, or the connection
breaks, the worker commits the same batch again, which is idempotent: on a new primary
that lacks the commit it is accepted; where the commit survived it is refused, and the
worker checks that every task is in the job's acknowledged set and waits again. Only a
commit whose tasks are no longer this worker's is given up, and the batch is recounted
elsewhere (the engine stays exact; the checker counts it as recomputed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine import commitlog, connection, sentinel_confirm
from engine.errors import ConfigError, RedisUnavailableError
from engine.keys import SYNC_CHANNEL
from engine.session import CommitResult, WorkerSession

log = logging.getLogger("wordcount.replica_sync")
SYNC_ENV = "WORDCOUNT_SYNC_REPLICAS"
WAIT_TIMEOUT_MS = 2000
"""How long one WAIT may take before the worker commits again (perhaps on a new primary)."""
REPLACED_PAUSE_S = 0.2
"""Wait after finding a commit on a replaced master, before reconnecting through Sentinel."""


def replicas_from_env() -> int:
    """K from ``$WORDCOUNT_SYNC_REPLICAS`` (0 when unset: no waiting)."""
    text = os.environ.get(SYNC_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ConfigError(f"${SYNC_ENV} {text!r} is not a number of replicas: use 0, 1, 2, ...")
    return int(text)


class _Pinned(redis.Redis):
    """A single-connection client that reconnects through the pool's connection class.

    redis-py reconnects a single connection inside ``send_command``, past the Sentinel
    connection's ``connect``, so after a failover it kept dialling the old master; calling
    ``connect`` first (a no-op while connected) asks the Sentinels again.
    """

    def execute_command(self, *args: Any, **options: Any) -> Any:
        assert self.connection is not None
        self.connection.connect()  # type: ignore[no-untyped-call]
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class ReplicaSync:
    """Commits through a dedicated connection, each followed by WAIT for ``replicas``."""

    def __init__(self, replicas: int, timeout_ms: int = WAIT_TIMEOUT_MS) -> None:
        self.replicas = replicas
        self.timeout_ms = timeout_ms
        self._own: WorkerSession | None = None

    @classmethod
    def from_env(cls) -> ReplicaSync:
        """K from the environment; also starts the commit log if one is asked for."""
        commitlog.activate_from_env()
        return cls(replicas_from_env())

    def _session(self, session: WorkerSession) -> WorkerSession:
        """The worker's session, on one connection of its own that never retries by itself."""
        if self._own is None:
            pool = session.client.connection_pool

            def dedicated() -> redis.Redis:  # takes a connection now: Redis may be down
                return _Pinned(connection_pool=pool, single_connection_client=True)

            client = session._call(dedicated)
            assert client.connection is not None
            client.connection.retry = Retry(NoBackoff(), 0)
            self._own = WorkerSession(
                client, session.keys, consumer=session.consumer, deadline_s=session.deadline_s
            )
        return self._own

    def commit(
        self,
        session: WorkerSession,
        entry_ids: Sequence[str],
        packed: bytes,
        nbytes: int,
        stage_key: str | None = None,
        parts: int = 0,
    ) -> CommitResult:
        """Commit, then wait until ``replicas`` replicas have it (see the module doc)."""
        if self.replicas <= 0:
            return session.commit(entry_ids, packed, nbytes, stage_key, parts)
        own = self._session(session)
        result = own.commit(entry_ids, packed, nbytes, stage_key, parts)
        if not result.accepted:
            return result
        give_up = time.monotonic() + session.deadline_s
        while not self._confirmed(own.client, entry_ids):
            if time.monotonic() > give_up:
                raise RedisUnavailableError(
                    f"fewer than {self.replicas} replicas acknowledged a commit for "
                    f"{session.deadline_s:.0f} s: start the missing replicas, or lower "
                    "--sync-replicas"
                )
            again = own.commit(entry_ids, packed, nbytes, stage_key, parts)
            if again.accepted:
                log.info("commit of %s repeated on a primary that lacked it", list(entry_ids))
                continue
            if not self._all_done(own, entry_ids):
                log.warning("commit of %s lost with its claims: %s", list(entry_ids), again)
                return again
            self._mark(own.client)  # the commit is in: wait for this primary's offset
        return result

    def _confirmed(self, client: redis.Redis, entry_ids: Sequence[str]) -> bool:
        """K replicas have the commit, and its server is still the Sentinels' master.

        A server the Sentinels have replaced loses what its replicas acknowledged (see
        :func:`sentinel_confirm.names_master`): the connection is dropped, so the commit is
        made again wherever the Sentinels now point.
        """
        if not self._replicated(client):
            return False
        conn = client.connection
        assert conn is not None
        why = sentinel_confirm.why_not_master(client, conn.host, conn.port)
        if why is None:
            return True
        log.warning("commit of %s not confirmed (%s): committing again", list(entry_ids), why)
        conn.disconnect()  # type: ignore[no-untyped-call]
        time.sleep(REPLACED_PAUSE_S)  # the other Sentinels learn of the failover too
        return False

    def _replicated(self, client: redis.Redis) -> bool:
        """WAIT on the committing connection; a broken one counts as not replicated."""
        try:
            acked = int(client.wait(self.replicas, self.timeout_ms))
        except (rex.ConnectionError, rex.TimeoutError):
            return False
        except rex.ResponseError as exc:  # e.g. WAIT refused on a replica
            log.info("WAIT refused: %s", exc)
            return False
        return acked >= self.replicas

    @staticmethod
    def _mark(client: redis.Redis) -> None:
        """Give the connection this primary's current offset: PUBLISH is replicated."""
        with contextlib.suppress(RedisUnavailableError):  # then the next WAIT fails too
            connection.call(client, lambda: client.publish(SYNC_CHANNEL, b""), deadline_s=5.0)

    @staticmethod
    def _all_done(own: WorkerSession, entry_ids: Sequence[str]) -> bool:
        flags = own._call(lambda: own.client.smismember(own.keys.done, list(entry_ids)))
        return all(bool(flag) for flag in flags)


def result_replicated(client: redis.Redis, timeout_ms: int = WAIT_TIMEOUT_MS) -> bool:
    """Whether what this primary holds now is on ``$WORDCOUNT_SYNC_REPLICAS`` replicas.

    The driver asks before it trusts a finished job: in a split brain it may be reading
    an old primary that took commits its replicas never saw, or one the Sentinels have
    already replaced. A replicated no-op (PUBLISH) and WAIT on one connection of the pool,
    then the Sentinels asked; always true without ``--sync-replicas``.
    """
    replicas = replicas_from_env()
    if replicas <= 0:
        return True
    pool = client.connection_pool
    try:
        conn = pool.get_connection()
    except (rex.ConnectionError, rex.TimeoutError):
        return False
    try:
        conn.send_command("PUBLISH", SYNC_CHANNEL, "")  # type: ignore[no-untyped-call]
        conn.read_response()
        conn.send_command("WAIT", replicas, timeout_ms)  # type: ignore[no-untyped-call]
        acked = int(conn.read_response())
    except (rex.ConnectionError, rex.TimeoutError, rex.ResponseError) as exc:
        log.info("could not confirm the result on %d replicas: %s", replicas, exc)
        conn.disconnect()  # type: ignore[no-untyped-call]
        return False
    finally:
        pool.release(conn)
    if acked < replicas:
        log.warning("the finished job is on %d of %d replicas; waiting", acked, replicas)
    elif (why := sentinel_confirm.why_not_master(client, conn.host, conn.port)) is not None:
        log.warning("the finished job is not confirmed (%s); waiting", why)
    else:
        return True
    # Perhaps a demoted primary that does not know it yet (reads and PUBLISH work on it):
    # drop idle connections, so the next ones ask the Sentinels again.
    pool.disconnect()
    return False
