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
    pool = client.connection_pool
    if not isinstance(pool, _MappedPool):
        return True
    here = (host, port)
    return _sentinels_agree(pool, here) and not _another_master(pool, here)


def _sentinels_agree(pool: _MappedPool, here: tuple[str, int]) -> bool:
    sentinels = pool.sentinel_manager.sentinels
    answers = []
    for sentinel in sentinels:
        try:
            answer = sentinel.sentinel_get_master_addr_by_name(pool.service_name)
        except _UNREACHABLE:
            continue
        answers.append(pool._mapped(answer))
    return len(answers) > len(sentinels) // 2 and all(a == here for a in answers)


def _another_master(pool: _MappedPool, here: tuple[str, int]) -> bool:
    """Whether a replica the Sentinels list answers ``ROLE`` with ``master``, or cannot be
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
                return True
            continue
        if role and role[0] in (b"master", "master"):
            return True
    return False


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

