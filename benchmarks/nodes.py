"""Redis servers that a benchmark controls itself: to read its memory and command
counters after a run, or to kill and restart it during one.

They are made by the engine's own node factory (``engine.nodes.factory``), the same kind
``wordcount run`` embeds, and always closed, whatever happens to the run.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator

from engine.nodes.base import Persistence, RedisNode
from engine.nodes.factory import embedded_node
from engine.supervisor import URL_ENV


@contextlib.contextmanager
def redis_node(persistence: str = "none") -> Iterator[RedisNode]:
    node = embedded_node(persistence=Persistence.parse(persistence))
    try:
        node.start()
        yield node
    finally:
        node.close()


def node_env(node: RedisNode) -> dict[str, str]:
    """Environment that points ``wordcount run`` at the node (keeps the password out of ps)."""
    return {URL_ENV: node.url}


def job_args() -> tuple[str, list[str]]:
    """A fresh job ID and the ``--job`` arguments that name it."""
    job = "bench-" + secrets.token_hex(4)
    return job, ["--job", job]


def used_memory(node: RedisNode) -> int:
    client = node.client(socket_timeout=10)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def commands_processed(node: RedisNode) -> int:
    client = node.client(socket_timeout=10)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


class Killer(threading.Thread):
    """Kills the node with SIGKILL and starts it again every ``every_s`` seconds."""

    def __init__(self, node: RedisNode, every_s: float) -> None:
        super().__init__(daemon=True, name="redis-killer")
        self.node = node
        self.every_s = every_s
        self.restarts = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            self.node.restart()
            self.restarts += 1

    def stop(self) -> None:
        """Stop killing; waits for a restart in progress, so the node is up afterwards."""
        self._halt.set()
        self.join()
