"""What a stopped Redis node will come back with, read before any client can write.

The checker tells a commit lost in a Redis restart from one accepted twice by comparing
with the acknowledged set the server restarted with. Read from the restarted server, that
set races with workers that already commit again; so it is read here instead, while the
node is down, by a private ``redis-server`` started on a copy of the node's data directory
with the same persistence settings (so it loads exactly what the node will load), on a
port and password nobody else knows. Only then is the real node started.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engine.keys import JobKeys
from engine.nodes.base import RedisNode
from engine.nodes.common import ManagedNode
from engine.nodes.process import LOG_NAME, ProcessNode, find_redis_server

DATA_FILES = ("dump.rdb", "appendonly.aof", "appendonlydir")
"""What ``redis-server`` loads at start with the nodes' settings (``engine.nodes.common``)."""


@dataclasses.dataclass(frozen=True)
class Persisted:
    """The job's acknowledged set and whether its hash exists, as the node will load them."""

    done: tuple[str, ...]
    job: bool

    def to_data(self) -> dict[str, Any]:
        return {"done_after": list(self.done), "job_after": self.job}


EMPTY = Persisted((), False)


def read_persisted(node: ManagedNode, keys: JobKeys) -> Persisted:
    """What ``node`` (stopped) will hold for the job once started from its directory."""
    source = Path(node.data_dir)
    if not any((source / name).exists() for name in DATA_FILES):
        return EMPTY  # nothing to load: the server starts empty
    with tempfile.TemporaryDirectory(prefix="faults-persisted-") as tmp:
        copy = Path(tmp) / "data"
        # temp-*: a snapshot or rewrite cut short, which no server loads
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(LOG_NAME, "temp-*"))
        reader = _reader(node, copy)
        try:
            reader.start()
            client = reader.client(socket_timeout=10)
            try:
                done = sorted(_text(e) for e in client.smembers(keys.done))
                return Persisted(tuple(done), client.exists(keys.job) == 1)
            finally:
                client.close()
        finally:
            reader.close()


def _reader(node: RedisNode, data_dir: Path) -> RedisNode:
    """A private server on ``data_dir``: a local process where ``redis-server`` exists (fast),
    else a node of the same kind as ``node``."""
    if find_redis_server() is not None:
        return ProcessNode(data_dir=data_dir, persistence=node.persistence)
    from engine.nodes.factory import make_node

    return make_node("docker", data_dir=data_dir, persistence=node.persistence)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
