"""Whether a server is still the master of a Sentinel group, asked after ``WAIT``.

A write that ``WAIT K`` saw on K replicas can still be lost. A primary frozen or cut
off past the Sentinels' down-after time is failed over; when it comes back it is still
a master for a while, and a replica the Sentinels have not moved to the new master yet
still follows it and acknowledges what it takes, then resyncs from the new master and
drops it. Two things give that away after the ``WAIT``, and both are asked:

- the Sentinel that ran the failover names the new master once the promoted replica
  says it is one; every Sentinel is asked, and the server holds only if a majority
  answer and every answer names it;
- before that, the promoted replica already answers ``ROLE`` with ``master``: each
  replica the Sentinels list is asked, and any other master refuses the server.

Only for ``--sync-replicas`` (the worker's commit and the driver's final check): a few
round trips on top of the ``WAIT`` they follow.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.sentinel_url import SENTINEL_TIMEOUT_S, _MappedPool

_UNREACHABLE = (rex.ConnectionError, rex.TimeoutError, rex.ResponseError)
_AUTH_KEYS = ("username", "password", "db")


def names_master(client: redis.Redis, host: str, port: int) -> bool:
    """Whether ``host:port`` is still the group's only master (true without Sentinels)."""
    return why_not_master(client, host, port) is None


def why_not_master(client: redis.Redis, host: str, port: int) -> str | None:
    """``None`` if ``host:port`` is still the group's only master, else why not, in words
    a log can show (which Sentinel names what, which replica claims to be master)."""
    pool = client.connection_pool
    if not isinstance(pool, _MappedPool):
        return None
    here = (host, port)
    return _sentinels_disagree(pool, here) or _another_master(pool, here)


def _sentinels_disagree(pool: _MappedPool, here: tuple[str, int]) -> str | None:
    sentinels = pool.sentinel_manager.sentinels
    answered = 0
    for sentinel in sentinels:
        try:
            answer = sentinel.sentinel_get_master_addr_by_name(pool.service_name)
        except _UNREACHABLE:
            continue
        answered += 1
        named = pool._mapped(answer)
        if named != here:
            where = _address(sentinel)
            return f"Sentinel {where} names {_show(named)} as master, not {_show(here)}"
    if answered <= len(sentinels) // 2:
        return f"only {answered} of {len(sentinels)} Sentinels answered"
    return None


def _another_master(pool: _MappedPool, here: tuple[str, int]) -> str | None:
    """A replica the Sentinels list that answers ``ROLE`` with ``master``, or cannot be
    asked although the Sentinels see it up (a loaded or cut-off replica may be the one
    being promoted); those the Sentinels see down are skipped, or a dead replica would
    hold every commit up."""
    for address, down in _replica_addresses(pool):
        if address == here:
            continue
        try:
            role = _role_client(pool, address).execute_command("ROLE")  # type: ignore[no-untyped-call]
        except _UNREACHABLE:
            if not down:
                return f"replica {_show(address)} is up for the Sentinels but does not answer"
            continue
        if role and role[0] in (b"master", "master"):
            return f"replica {_show(address)} answers ROLE as a master"
    return None


def _show(address: tuple[str, int] | None) -> str:
    return "nothing" if address is None else f"{address[0]}:{address[1]}"


def _address(sentinel: redis.Redis) -> str:
    kwargs = sentinel.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _replica_addresses(pool: _MappedPool) -> list[tuple[tuple[str, int], bool]]:
    """The replicas one Sentinel lists, each with whether it sees the replica down."""
    for sentinel in pool.sentinel_manager.sentinels:
        try:
            replicas = sentinel.sentinel_slaves(pool.service_name)
        except _UNREACHABLE:
            continue
        out = []
        for replica in replicas:
            address = pool._mapped((replica["ip"], replica["port"]))
            down = bool(replica.get("is_sdown") or replica.get("is_disconnected"))
            if address is not None:
                out.append((address, down))
        return out
    return []


def _role_client(pool: _MappedPool, address: tuple[str, int]) -> redis.Redis:
    """One client per replica, kept on the pool (a commit asks every time). It never
    retries: redis-py's default backs off for seconds on a dead replica, and a commit
    paid that every time (both replicas killed: 19 s became 56 s)."""
    clients: dict[tuple[str, int], redis.Redis] = pool.__dict__.setdefault("_role_clients", {})
    if address not in clients:
        auth: dict[str, Any] = {k: pool.connection_kwargs.get(k) for k in _AUTH_KEYS}
        clients[address] = redis.Redis(
            host=address[0], port=address[1], socket_timeout=SENTINEL_TIMEOUT_S,
            socket_connect_timeout=SENTINEL_TIMEOUT_S, retry=Retry(NoBackoff(), 0), **auth,
        )  # fmt: skip
    return clients[address]
