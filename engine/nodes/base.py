"""The interface every managed Redis server offers, and its persistence settings.

A node owns one Redis server with a fixed port, password and data directory for its whole
life, so that a restart (after a graceful stop, a SIGKILL or a pause) comes back at the
same address with whatever the chosen persistence kept.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from types import TracebackType
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.errors import ConfigError

PersistenceMode = Literal["none", "snapshot", "aof-everysec", "aof-always"]
_SPEC = re.compile(r"^(none|aof-everysec|aof-always|snapshot(?::(\d+))?)$")


@dataclasses.dataclass(frozen=True)
class Persistence:
    """How a node keeps its data across a crash.

    ``snapshot`` takes a BGSAVE every ``snapshot_interval_ms`` (the labs' periodic
    checkpoint), driven by the node object rather than Redis' ``save`` rule because the
    latter cannot go below one second.
    """

    mode: PersistenceMode = "none"
    snapshot_interval_ms: int = 1000

    @classmethod
    def parse(cls, spec: str) -> Persistence:
        """Read ``none``, ``snapshot``, ``snapshot:500``, ``aof-everysec`` or ``aof-always``."""
        match = _SPEC.match(spec.strip())
        if match is None:
            raise ConfigError(
                f"unknown persistence {spec!r}: use none, snapshot[:MS], aof-everysec or aof-always"
            )
        if match.group(1).startswith("snapshot"):
            interval = int(match.group(2)) if match.group(2) else 1000
            if interval <= 0:
                raise ConfigError(f"snapshot interval must be positive, got {interval} ms")
            return cls("snapshot", interval)
        return cls(match.group(1))  # type: ignore[arg-type]

    def __str__(self) -> str:
        if self.mode == "snapshot":
            return f"snapshot:{self.snapshot_interval_ms}"
        return self.mode

    def server_args(self) -> list[str]:
        """Command-line arguments for ``redis-server`` that set this persistence."""
        args = ["--save", ""]
        if self.mode.startswith("aof"):
            fsync = "always" if self.mode == "aof-always" else "everysec"
            args += ["--appendonly", "yes", "--appendfsync", fsync]
        else:
            args += ["--appendonly", "no"]
        return args


class RedisNode(abc.ABC):
    """One Redis server under this program's control.

    Implementations: :class:`engine.nodes.process.ProcessNode` and
    :class:`engine.nodes.container.ContainerNode`.
    """

    host: str
    port: int
    password: str
    persistence: Persistence

    @property
    def url(self) -> str:
        """A ``redis://`` URL with the password, for clients and workers."""
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        """A plain client for this node (no retries): for tests and the fault controller.

        redis-py retries failed commands by default, which would hide a killed or paused
        server behind seconds of backoff; pass ``retry=`` to get that back.
        """
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            **kwargs,  # type: ignore[arg-type]
        )

    @abc.abstractmethod
    def start(self) -> None:
        """Start the server and return once it answers PING (and has loaded its data)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop gracefully (SHUTDOWN, saving if persistence asks for it). Idempotent."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Kill with SIGKILL: no save, no cleanup, as a crash would."""

    @abc.abstractmethod
    def restart(self, *, wipe: bool = False, downtime_s: float = 0.0) -> None:
        """Start again on the same port, password and data directory.

        A running server is killed first. ``wipe`` deletes the data directory before the
        start (a restart that lost its disk); ``downtime_s`` waits that long while down.
        """

    @abc.abstractmethod
    def pause(self) -> None:
        """Freeze the server (SIGSTOP or docker pause): connections hang, nothing answers."""

    @abc.abstractmethod
    def resume(self) -> None:
        """Undo :meth:`pause`."""

    @abc.abstractmethod
    def is_running(self) -> bool:
        """Whether the server process or container is up (paused counts as up)."""

    def bgsave(self) -> None:
        """Take a snapshot now; a snapshot already in progress is not an error."""
        try:
            self.client(socket_timeout=5).bgsave()
        except redis.ResponseError as exc:
            if "in progress" not in str(exc):
                raise

    def __enter__(self) -> RedisNode:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server and remove everything this node created. Idempotent."""
        self.stop()
