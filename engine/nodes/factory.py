"""Pick a node kind by name, or whichever this machine can run.

The driver and the fault suite ask for "a Redis" without caring how it runs; this is the
one place that knows which backends exist and what each needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from engine.errors import ConfigError, NodeError
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.container import ContainerNode, docker_available, resolve_image
from engine.nodes.process import ProcessNode, find_redis_server

Backend = Literal["process", "docker", "auto"]
BACKENDS: tuple[Backend, ...] = ("process", "docker", "auto")
_NO_PERSISTENCE = Persistence()


def docker_backend_ready() -> bool:
    """Whether a container node could start here: engine answering and an image present."""
    if not docker_available():
        return False
    try:
        resolve_image()
    except NodeError:
        return False
    return True


def make_node(
    backend: Backend = "auto",
    *,
    port: int | None = None,
    password: str | None = None,
    data_dir: str | Path | None = None,
    persistence: Persistence = _NO_PERSISTENCE,
    host: str = "127.0.0.1",
    image: str | None = None,
    binary: str | None = None,
) -> RedisNode:
    """A node of the given kind, not started yet.

    ``auto`` prefers a container when Docker can run one (the closer imitation of a
    separate machine), else a local process. ``image`` only concerns containers and
    ``binary`` only processes; each is ignored by the other kind.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown Redis backend {backend!r}: use process, docker or auto")
    if backend == "auto":
        backend = "docker" if docker_backend_ready() else "process"
    if backend == "docker":
        return ContainerNode(
            port=port,
            password=password,
            data_dir=data_dir,
            persistence=persistence,
            image=image,
            host=host,
        )
    return ProcessNode(
        port=port,
        password=password,
        data_dir=data_dir,
        persistence=persistence,
        binary=binary,
        host=host,
    )


def embedded_node(
    *,
    port: int | None = None,
    password: str | None = None,
    data_dir: str | Path | None = None,
    persistence: Persistence = _NO_PERSISTENCE,
    host: str = "127.0.0.1",
    replicas: int = 0,
) -> RedisNode:
    """The driver's private Redis when no ``--redis-url`` is given, not started yet.

    Unlike ``auto`` this prefers a local process: it starts in milliseconds and needs no
    daemon, which matters for a one-off command-line run. With ``replicas`` it is a
    :class:`~engine.nodes.replicated.ReplicatedGroup` (primary, replicas, 3 Sentinels).
    """
    if find_redis_server() is not None:
        backend: Backend = "process"
    elif docker_available():
        try:
            resolve_image()
        except NodeError as exc:
            raise NodeError(
                f"redis-server is not installed, and Docker has no Redis image: {exc}; "
                "or install redis-server (apt-get install redis-server), or pass --redis-url"
            ) from exc
        backend = "docker"
    else:
        raise NodeError(
            "no Redis to start: install redis-server (apt-get install redis-server), "
            "or start Docker with a Redis image (bash docker/build-redis-image.sh), "
            "or pass --redis-url to use a running Redis"
        )
    if replicas:
        from engine.nodes.replicated import ReplicatedGroup
        from engine.nodes.replicated_docker import DockerReplicatedGroup

        kind = DockerReplicatedGroup if backend == "docker" else ReplicatedGroup
        return kind(replicas, persistence=persistence, password=password, host=host)
    return make_node(
        backend, port=port, password=password, data_dir=data_dir, persistence=persistence, host=host
    )
