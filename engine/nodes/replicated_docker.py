"""The replicated group as containers on a private Docker network.

Data nodes and Sentinels share a user-defined network and reach each other by container
name (``REPLICAOF wc-…-redis-1 6379``; Sentinels run with ``resolve-hostnames`` and
``announce-hostnames``), so a restarted container that got another address is still the
same node. This program reaches them at their published loopback ports: the Sentinel URL
maps each announced ``name:6379`` to ``127.0.0.1:PORT`` (``map=``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from engine.errors import NodeError
from engine.nodes.base import RedisNode
from engine.nodes.common import free_port, remove_tree
from engine.nodes.container import ContainerNode
from engine.nodes.dockerutil import docker_client, resolve_image
from engine.nodes.replicated import MASTER_NAME, ReplicatedGroup, Sentinel

READY_TIMEOUT_S = 30.0


class NetworkedNode(ContainerNode):
    """A container node attached to a network under a fixed name."""

    def __init__(self, *, network: str, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.name = name

    def _configure(self, container: Any) -> Any:
        container = super()._configure(container)
        container.with_name(self.name)
        container._kwargs = {**container._kwargs, "network": self.network}
        return container


class SentinelContainer:
    """``redis-server --sentinel`` in a container on the group's network."""

    def __init__(self, *, network: str, name: str, conf: list[str], host: str) -> None:
        self.network = network
        self.name = name
        self.host = host
        self.port = free_port(host)
        self.dir = Path(tempfile.mkdtemp(prefix="wordcount-sentinel-"))
        fd = os.open(self.dir / "sentinel.conf", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(["port 26379", "bind 0.0.0.0", "protected-mode no",
                                 "sentinel resolve-hostnames yes",
                                 "sentinel announce-hostnames yes", *conf]) + "\n")  # fmt: skip
        self._container: Any = None

    def client(self, timeout_s: float = 1.0) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=timeout_s,
                           socket_connect_timeout=timeout_s)  # fmt: skip

    def start(self) -> None:
        client = docker_client()
        try:
            if self._container is None:
                self._container = client.containers.run(
                    resolve_image(client), ["redis-server", "/conf/sentinel.conf", "--sentinel"],
                    detach=True, name=self.name, network=self.network,
                    ports={"26379/tcp": (self.host, self.port)},
                    volumes={str(self.dir): {"bind": "/conf", "mode": "rw"}},
                    user=f"{os.getuid()}:{os.getgid()}",
                )  # fmt: skip
            else:
                self._container.start()
        finally:
            client.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _pings(self.client()):
            if time.monotonic() > deadline:
                raise NodeError(f"Sentinel container {self.name} did not answer PING")
            time.sleep(0.1)

    def kill(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.kill()

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.remove(force=True)
            self._container = None
        if self.dir.exists():
            remove_tree(self.dir)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


class DockerReplicatedGroup(ReplicatedGroup):
    """A :class:`ReplicatedGroup` whose nodes and Sentinels are containers on a private
    network made for it (and removed with it)."""

    def __init__(self, replicas: int = 2, **kwargs: Any) -> None:
        self.prefix = "wc-" + secrets.token_hex(3)
        self.network = f"{self.prefix}-net"
        kwargs.pop("backend", None)
        super().__init__(replicas, backend="docker", **kwargs)
        for i, node in enumerate(self.nodes):
            self.peer_addresses[i] = (self._name(i), 6379)
            self.client_addresses[i] = (node.host, node.port)
        self._network: Any = None

    def _name(self, index: int) -> str:
        return f"{self.prefix}-redis-{index}"

    def _new_node(self, index: int) -> RedisNode:
        return NetworkedNode(
            network=self.network, name=self._name(index), password=self.password,
            persistence=self.persistence, host=self.host,
        )  # fmt: skip

    def _new_sentinel(self, index: int) -> Sentinel:
        host, port = self.peer(0)
        conf = [
            f"sentinel monitor {MASTER_NAME} {host} {port} 2",
            f"sentinel auth-pass {MASTER_NAME} {self.password}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} 4000",
        ]
        return SentinelContainer(network=self.network, name=f"{self.prefix}-sentinel-{index}",
                                 conf=conf, host=self.host)  # fmt: skip

    def start(self) -> None:
        if self._network is None:
            client = docker_client()
            try:
                self._network = client.networks.create(self.network, driver="bridge")
            finally:
                client.close()
        super().start()

    def close(self) -> None:
        super().close()
        if self._network is not None:
            with contextlib.suppress(Exception):
                self._network.remove()
            self._network = None
