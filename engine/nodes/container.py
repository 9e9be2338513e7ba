"""A Redis server in a Docker container, driven through testcontainers and the docker SDK.

Containers give the fault suite what a process cannot: a server on its own network stack
and file system, killed and frozen by the engine rather than by signals from this
program. ``docker`` and ``testcontainers`` are imported only when a container is used,
so the engine runs without them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import NodeError
from engine.nodes.base import Persistence
from engine.nodes.common import (
    ManagedNode,
    clear_dir,
    free_port,
    remove_tree,
    server_args,
    shutdown,
    tail,
    track,
    untrack,
    wait_ready,
    write_secret_config,
)
from engine.nodes.dockerutil import (
    INSTALL_HINT,
    avoid_ryuk_pull,
    docker_available,
    docker_client,
    docker_sdk,
    resolve_image,
)

__all__ = ["ContainerNode", "docker_available", "resolve_image"]

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

STOP_TIMEOUT_S = 10.0
_OWNER_LABEL = "org.wordcount.owner"
_TEMP_DIR_LABEL = "org.wordcount.temp-dir"
_UP_STATES = frozenset({"running", "paused", "restarting"})


class ContainerNode(ManagedNode):
    """``redis-server`` in a container with ``/data`` bind-mounted from the host.

    The host port is chosen up front and bound explicitly, so ``docker start`` after a
    kill brings the server back at the same address; the data directory lives on the
    host, so a wipe is a plain delete and survives the container.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        password: str | None = None,
        data_dir: str | Path | None = None,
        persistence: Persistence = Persistence(),  # noqa: B008 - frozen, so sharing is safe
        image: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._init_identity(
            host=host, port=port, password=password, data_dir=data_dir, persistence=persistence
        )
        self.image = image
        self._container: DockerContainer | None = None
        track(self)

    def __repr__(self) -> str:
        return f"ContainerNode(port={self.port}, id={self.container_id}, image={self.image!r})"

    @property
    def container_id(self) -> str | None:
        """The container's full ID once it has been created."""
        if self._container is None:
            return None
        return str(self._container.get_wrapped_container().id)

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise NodeError(f"{self!r} is closed: create a new node")
            if self.is_running():
                return
            self.data_dir.mkdir(parents=True, exist_ok=True)
            write_secret_config(self.data_dir, self.password)  # a wipe may have taken it
            if self._container is None or not self._start_existing():
                self._create()
            wait_ready(
                self.client(socket_timeout=1.0, socket_connect_timeout=1.0),
                alive=self.is_running,
                describe=self._describe,
            )
            self._may_move = False
            if self.persistence.mode == "snapshot":
                self._ticker.start()

    def _start_existing(self) -> bool:
        """``docker start`` the container; False when someone removed it meanwhile."""
        docker = docker_sdk()
        try:
            self._wrapped().start()
            return True
        except docker.errors.NotFound:
            self._container = None
            return False
        except docker.errors.APIError as exc:
            raise NodeError(f"docker start failed: {exc}. {self._describe()}") from exc

    def _create(self) -> None:
        """Create and start the container, moving an auto-picked port if it was taken."""
        docker = docker_sdk()
        try:
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise NodeError(f"the testcontainers package is missing: {INSTALL_HINT}") from exc
        client = docker_client()
        try:
            self.image = self.image or resolve_image(client)
            avoid_ryuk_pull(client)
            _reap_orphans(client)
        finally:
            client.close()
        for attempt in range(3):
            container = self._configure(DockerContainer(self.image))
            try:
                container.start()
                self._container = container
                return
            except docker.errors.APIError as exc:
                _remove_quietly(container)
                taken = "already allocated" in str(exc) or "already in use" in str(exc)
                if not (taken and self._may_move and attempt < 2):
                    raise NodeError(f"cannot start a {self.image} container: {exc}") from exc
                self.port = free_port(self.host)

    def _configure(self, container: DockerContainer) -> DockerContainer:
        config = write_secret_config(self.data_dir, self.password)
        args = server_args(
            config=f"/data/{config.name}",
            port=6379,
            bind="0.0.0.0",
            data_dir="/data",
            persistence=self.persistence,
        )
        labels = {_OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}"}
        if self._owns_dir:
            labels[_TEMP_DIR_LABEL] = str(self.data_dir)
        # docker-py takes an (address, port) pair although testcontainers types only ints.
        container.ports["6379/tcp"] = (self.host, self.port)  # type: ignore[assignment]
        # Running as the caller's uid keeps files in the bind mount deletable by the caller
        # (the official image drops root to its own "redis" user only when started as root).
        return (
            container.with_command(["redis-server", *args])
            .with_volume_mapping(self.data_dir, "/data", mode="rw")
            .with_kwargs(user=f"{os.getuid()}:{os.getgid()}", labels=labels)
        )

    def _wrapped(self) -> Any:
        if self._container is None:
            raise NodeError(f"{self!r} has no container: start it first")
        return self._container.get_wrapped_container()

    def _status(self) -> str:
        docker = docker_sdk()
        if self._container is None:
            return "absent"
        try:
            wrapped = self._wrapped()
            wrapped.reload()
            return str(wrapped.status)
        except docker.errors.NotFound:
            return "absent"

    def _describe(self) -> str:
        if self._container is None:
            return "(no container)"
        try:
            logs = self._wrapped().logs(tail=15).decode(errors="replace")
        except Exception as exc:
            logs = f"(logs unavailable: {exc})"
        return f"Container {self.container_id} logs end with:\n{tail(logs)}"

    def stop(self) -> None:
        with self._lock:
            self._ticker.stop()
            if not self.is_running():
                return
            self.resume()  # a frozen server cannot act on SHUTDOWN
            client = self.client(socket_timeout=STOP_TIMEOUT_S, socket_connect_timeout=1.0)
            accepted = shutdown(client, self.persistence)
            client.close()
            wrapped = self._wrapped()
            if accepted and _exited(wrapped, STOP_TIMEOUT_S):
                return
            wrapped.stop(timeout=5)  # SIGTERM, then SIGKILL after 5 s; returns once down

    def kill(self) -> None:
        docker = docker_sdk()
        with self._lock:
            self._ticker.stop()
            if not self.is_running():
                return
            wrapped = self._wrapped()
            try:
                wrapped.kill()
            except docker.errors.APIError as exc:
                if self._status() != "paused":
                    raise NodeError(f"docker kill failed: {exc}") from exc
                # Some engines refuse to kill a frozen container: thaw it, then kill.
                wrapped.unpause()
                wrapped.kill()
            if not _exited(wrapped, STOP_TIMEOUT_S):
                raise NodeError(f"{self!r} still runs after docker kill: is the engine healthy?")

    def restart(self, *, wipe: bool = False, downtime_s: float = 0.0) -> None:
        with self._lock:
            if self._closed:
                raise NodeError(f"{self!r} is closed: create a new node")
            self.kill()
            if downtime_s > 0:
                time.sleep(downtime_s)
            if wipe:
                clear_dir(self.data_dir)
            self.start()

    def pause(self) -> None:
        with self._lock:
            if self._status() != "running":
                raise NodeError(f"cannot pause {self!r}: it is not running; start it first")
            self._wrapped().pause()

    def resume(self) -> None:
        with self._lock:
            if self._status() == "paused":
                self._wrapped().unpause()

    def is_running(self) -> bool:
        return self._status() in _UP_STATES

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.stop()
            finally:
                self._closed = True
                untrack(self)
                if self._container is not None:
                    _remove_quietly(self._container)
                    self._container = None
                if self._owns_dir and self.data_dir.exists():
                    remove_tree(self.data_dir)


def _exited(wrapped: Any, timeout_s: float) -> bool:
    """Wait for the container to stop; False if it still runs after ``timeout_s``."""
    try:
        wrapped.wait(timeout=timeout_s)
        return True
    except Exception:  # requests' ReadTimeout/ConnectionError, depending on the transport
        return False


def _remove_quietly(container: DockerContainer) -> None:
    """Remove a container (force) and close its client; it may be half-created or gone."""
    try:
        container.stop(force=True, delete_volume=True)
    except Exception:
        try:
            container.get_docker_client().client.close()
        except Exception:
            return


def _reap_orphans(client: Any) -> None:
    """Remove containers (and temp dirs) left by programs on this host that were killed.

    A SIGKILL-ed program runs no atexit hook, and nothing else would ever stop its
    containers; their owner label names the host and PID, which is checked here. Best
    effort: other programs reap and remove containers concurrently, so any error skips.
    """
    hostname = socket.gethostname()
    try:
        listed = client.api.containers(all=True, filters={"label": _OWNER_LABEL})
    except Exception:
        return
    for entry in listed:
        labels = entry.get("Labels") or {}
        owner_host, _, pid = labels.get(_OWNER_LABEL, "").rpartition(":")
        if owner_host != hostname or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        try:
            client.api.remove_container(entry["Id"], force=True, v=True)
        except Exception:
            continue  # removed by a concurrent reaper
        temp_dir = labels.get(_TEMP_DIR_LABEL)
        if temp_dir and Path(temp_dir).is_dir():
            with contextlib.suppress(NodeError, OSError):
                remove_tree(Path(temp_dir))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
