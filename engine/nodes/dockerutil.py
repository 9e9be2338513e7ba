"""Finding Docker and a Redis image for it, without ever touching a registry.

``docker`` and ``testcontainers`` are optional: everything here imports them on first use
and turns their absence, or an engine that does not answer, into a NodeError with a fix.
"""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

from engine.errors import NodeError

IMAGE_ENV = "WORDCOUNT_REDIS_IMAGE"
OFFICIAL_IMAGE = "redis:7.4"
LOCAL_IMAGE = "wordcount-redis:7"
INSTALL_HINT = "pip install 'redis-wordcount[docker]'"


def docker_sdk() -> Any:
    """The docker SDK, imported on first use.

    Imported by name because this repository's ``docker/`` folder of scripts shadows the
    package for type checkers and import sorters (at run time a real package wins).
    """
    try:
        return importlib.import_module("docker")
    except ImportError as exc:
        raise NodeError(f"the docker package is missing: {INSTALL_HINT}") from exc


def docker_client(timeout_s: float = 30.0) -> Any:
    """A docker SDK client, or a NodeError that says what to install or start."""
    docker = docker_sdk()
    try:
        return docker.from_env(timeout=int(max(1, timeout_s)))
    except docker.errors.DockerException as exc:
        raise NodeError(
            f"the Docker engine does not answer ({exc}): is the Docker daemon running, "
            "and may this user use it (docker group)?"
        ) from exc


@functools.cache
def docker_available() -> bool:
    """Whether the docker packages are installed and the engine answers a ping.

    Cached for the life of the process: "auto" choices and test skips ask often, and an
    engine that appears later is not worth a second three-second timeout.
    """
    try:
        import testcontainers.core.container  # noqa: F401

        client = docker_client(timeout_s=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def resolve_image(client: Any = None) -> str:
    """The Redis image to run; never pulls, since a pull without a registry can hang."""
    own = client is None
    client = docker_client() if own else client
    try:
        wanted = os.environ.get(IMAGE_ENV, "").strip()
        if wanted:
            if image_present(client, wanted):
                return wanted
            raise NodeError(
                f"{IMAGE_ENV}={wanted} is not present locally and is never pulled: "
                f"`docker pull {wanted}` first, or unset {IMAGE_ENV}"
            )
        for candidate in (OFFICIAL_IMAGE, LOCAL_IMAGE):
            if image_present(client, candidate):
                return candidate
        raise NodeError(
            "no Redis image: run `bash docker/build-redis-image.sh` (builds "
            f"{LOCAL_IMAGE} offline from Debian's redis-server package) or set "
            f"{IMAGE_ENV} to an image you have"
        )
    finally:
        if own:
            client.close()


def image_present(client: Any, name: str) -> bool:
    """Whether the engine has the image locally (the only place this module looks)."""
    docker = docker_sdk()
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def avoid_ryuk_pull(client: Any) -> None:
    """Turn testcontainers' reaper off unless its image is already here.

    Starting the reaper pulls its image, which hangs without a registry. Container nodes
    clean up after themselves instead: close(), atexit, and an orphan sweep for programs
    that were killed.
    """
    from testcontainers.core.config import testcontainers_config as config

    if not config.ryuk_disabled and not image_present(client, config.ryuk_image):
        config.ryuk_disabled = True
