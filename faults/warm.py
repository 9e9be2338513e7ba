"""Warm Redis nodes: a server kept running between scenarios, emptied in between.

Starting a server for every scenario and removing it afterwards costs little with local
processes but about a second with containers (create, start, stop, remove), on a run
of a few seconds. So each process that runs scenarios (each xdist worker) keeps one idle
node per backend and persistence mode, and :meth:`WarmPool.give_back` empties it for the
next scenario. A node is handed out again only if every trace of the last one is gone:

- its connections are closed (a straggler of the last run cannot write into the next);
- its dataset, functions and scripts are flushed (another engine's function library must
  not serve the next one), once no snapshot or AOF rewrite is in flight;
- its files hold nothing of the last run: snapshots (``dump.rdb``, taken by the snapshot
  ticker or by a fault, even under ``none``) are deleted, an AOF is rewritten from the
  empty dataset, so a restart in the next run loads what a new server would;
- its configuration equals the one it started with.

Otherwise (it is down, it refused, anything failed or differs) it is closed and the next
scenario gets a new one, as before. ``FAULTS_WARM_REDIS=0`` turns the pool off.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import redis

from engine.errors import NodeError
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import ManagedNode

WARM_ENV = "FAULTS_WARM_REDIS"
"""``0`` turns the pool off: a new node for every scenario."""
SETTLE_TIMEOUT_S = 20.0
"""How long a snapshot or AOF rewrite in flight may take before the node is given up."""
SNAPSHOTS = ("dump.rdb",)
SNAPSHOT_TEMP_GLOB = "temp-*.rdb"


class WarmPool:
    """Idle started nodes by (backend, persistence), with the config each started with."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], RedisNode] = {}
        self._config: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._owner = os.getpid()

    def _mine(self) -> None:
        """Forget nodes inherited through a fork: they serve the parent's scenarios."""
        if self._owner != os.getpid():
            self._idle, self._config, self._owner = {}, {}, os.getpid()

    def take(self, backend: str, persistence: Persistence) -> RedisNode | None:
        """An emptied node that runs, or ``None``: make a new one then (:meth:`adopt` it)."""
        with self._lock:
            self._mine()
            node = self._idle.pop((backend, str(persistence)), None)
        if node is not None and node.is_running():
            return node
        if node is not None:
            self._discard(node)
        return None

    def adopt(self, node: RedisNode) -> None:
        """Record the configuration of a new, just started node (what a reset restores)."""
        self._config[id(node)] = config_of(node)

    def give_back(self, node: RedisNode, backend: str) -> bool:
        """Empty ``node`` and keep it for the next scenario; close it if that fails."""
        try:
            kept = id(node) in self._config and reset(node, self._config[id(node)])
        except (redis.RedisError, OSError, NodeError):
            kept = False
        if not kept:
            self._discard(node)
            return False
        with self._lock:
            old = self._idle.pop((backend, str(node.persistence)), None)
            self._idle[(backend, str(node.persistence))] = node
        if old is not None:
            self._discard(old)
        return True

    def idle(self) -> list[RedisNode]:
        """The nodes waiting for the next scenario."""
        with self._lock:
            self._mine()
            return list(self._idle.values())

    def close_all(self) -> None:
        """Close every idle node (at session end, before the leftover sweep)."""
        with self._lock:
            self._mine()
            nodes, self._idle = list(self._idle.values()), {}
        for node in nodes:
            self._discard(node)

    def _discard(self, node: RedisNode) -> None:
        self._config.pop(id(node), None)
        with contextlib.suppress(Exception):
            node.close()


def enabled() -> bool:
    return os.environ.get(WARM_ENV, "1") != "0"


def config_of(node: RedisNode) -> dict[str, str]:
    client = node.client(socket_timeout=5, decode_responses=True)
    try:
        return {str(k): str(v) for k, v in client.config_get("*").items()}
    finally:
        client.close()


def reset(node: RedisNode, config: dict[str, str]) -> bool:
    """Empty a running node as described in the module docstring; False if it cannot be."""
    if not isinstance(node, ManagedNode) or not node.is_running():
        return False
    node.resume()
    client = node.client(socket_timeout=10, socket_connect_timeout=2, decode_responses=True)
    try:
        if {str(k): str(v) for k, v in client.config_get("*").items()} != config:
            return False
        for kind in ("normal", "pubsub"):
            _command(client, "CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes")
        _command(client, "FUNCTION", "FLUSH", "SYNC")
        _command(client, "SCRIPT", "FLUSH", "SYNC")
        _command(client, "FLUSHALL", "SYNC")
        _settle(client)
        _empty_files(node, client)
        _command(client, "CONFIG", "RESETSTAT")
        return _is_empty(client)
    finally:
        client.close()


def _settle(client: redis.Redis) -> None:
    """Wait for any snapshot or AOF rewrite in flight (it may hold the old data)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        info = client.info("persistence")
        busy = (info.get("rdb_bgsave_in_progress") or info.get("aof_rewrite_in_progress")
                or info.get("aof_rewrite_scheduled"))  # fmt: skip
        if not busy:
            return
        if time.monotonic() > deadline:
            raise NodeError("a snapshot or AOF rewrite did not end: the node is given up")
        time.sleep(0.01)


def _empty_files(node: ManagedNode, client: redis.Redis) -> None:
    """No snapshot of the last run on disk; an AOF rewritten from the empty dataset."""
    data_dir = Path(node.data_dir)
    for name in SNAPSHOTS:
        (data_dir / name).unlink(missing_ok=True)
    for temp in data_dir.glob(SNAPSHOT_TEMP_GLOB):
        temp.unlink(missing_ok=True)
    if node.persistence.mode.startswith("aof"):
        _command(client, "BGREWRITEAOF")
        _settle(client)
        if client.info("persistence").get("aof_last_bgrewrite_status") != "ok":
            raise NodeError("the AOF rewrite failed: the node is given up")


def _is_empty(client: redis.Redis) -> bool:
    keyspace = client.info("keyspace")
    return not keyspace and not _command(client, "FUNCTION", "LIST")


def _command(client: redis.Redis, *args: str) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


POOL = WarmPool()
"""This process's pool (one per xdist worker)."""
