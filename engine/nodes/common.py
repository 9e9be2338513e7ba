"""What the process and container nodes share: ports, server arguments, readiness, wiping.

Both kinds run the same ``redis-server`` command line, so a fault test sees the same
persistence behaviour whichever backend it gets.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

import redis

from engine.errors import NodeError
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.snapshots import SnapshotTicker

READY_TIMEOUT_S = 10.0
"""How long a start may take before it is reported as failed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now; the kernel picks it, so parallel tests differ."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as exc:
            raise NodeError(
                f"cannot listen on {host!r} ({exc}): use an address of this machine, "
                "such as 127.0.0.1"
            ) from exc
        port: int = sock.getsockname()[1]
        return port


def new_password() -> str:
    """A password even a client on another loopback user cannot guess."""
    return secrets.token_urlsafe(18)


CONFIG_NAME = "wordcount-secret.conf"
"""The 0600 config file in a node's data directory that carries its password, so that the
password is never on a command line (``/proc/PID/cmdline`` is readable by every local user,
and a container's command by anyone who may run ``docker inspect``)."""


def write_secret_config(data_dir: Path, password: str) -> Path:
    """Write (or rewrite) the node's password into :data:`CONFIG_NAME`, readable only by
    this user, and return its path. Rewritten at every start, so a wipe cannot lose it."""
    if any(c in password for c in "\r\n\0"):
        raise NodeError("a Redis password cannot contain a line break or NUL: choose another")
    path = data_dir / CONFIG_NAME
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have had other bits
        os.write(fd, f'requirepass "{quoted}"\n'.encode())
    finally:
        os.close(fd)
    return path


def server_args(
    *, config: str, port: int, bind: str, data_dir: str, persistence: Persistence
) -> list[str]:
    """The ``redis-server`` arguments both node kinds use: the secret config file
    (:func:`write_secret_config`, as seen by the server) first, as Redis requires, then
    everything that is not secret as options.

    The log goes to stdout (``--logfile ""``) so early errors such as a bad argument and
    the normal log end up in one place: a file for processes, ``docker logs`` for
    containers. Writes go on when a BGSAVE fails, because a failing snapshot (full disk,
    a fork refused) must not turn into a write outage the fault tests did not ask for.
    """
    return [
        config,
        "--port", str(port),
        "--bind", bind,
        "--dir", data_dir,
        "--dbfilename", "dump.rdb",
        "--appendfilename", "appendonly.aof",
        *persistence.server_args(),
        "--aof-load-truncated", "yes",
        "--stop-writes-on-bgsave-error", "no",
        "--daemonize", "no",
        "--supervised", "no",
        "--protected-mode", "no",
        "--logfile", "",
        "--always-show-logo", "no",
    ]  # fmt: skip


def shutdown(client: redis.Redis, persistence: Persistence) -> bool:
    """Ask the server to exit, saving what the persistence mode promises to keep.

    With ``--save ""`` a plain SHUTDOWN writes no RDB, so snapshot mode asks for SAVE
    explicitly; AOF modes fsync the log on any SHUTDOWN; ``none`` skips the disk.
    Returns False when the server refused or did not answer, so the caller can go
    straight to a signal instead of waiting for an exit that will not come.
    """
    save = persistence.mode == "snapshot"
    nosave = persistence.mode == "none"
    try:
        client.shutdown(save=save, nosave=nosave)
    except (redis.RedisError, OSError):
        return False
    return True


def wait_ready(
    client: redis.Redis,
    *,
    alive: Callable[[], bool],
    describe: Callable[[], str],
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Return once the server answers PING with its data loaded.

    A server still loading its RDB or AOF answers ``-LOADING``, which redis-py raises as
    :class:`redis.BusyLoadingError` (a ConnectionError): that keeps the wait going, so
    callers never see a half-loaded dataset.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if not alive():
            raise NodeError(f"Redis exited during start-up. {describe()}")
        try:
            client.ping()
            return
        except redis.AuthenticationError as exc:
            raise NodeError(
                f"a server answered but refused the password ({exc}): another Redis "
                f"probably holds the port; pick another one. {describe()}"
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise NodeError(f"Redis did not answer PING within {timeout_s:.0f} s. {describe()}")
        time.sleep(0.02)


def settle(group: str, what: str, check: Callable[[], bool], timeout_s: float) -> None:
    """Poll ``check`` until true (a Redis or socket error counts as not yet); a NodeError
    naming ``group`` and ``what`` after ``timeout_s``. For groups of nodes that must agree
    (replicas in sync, Sentinels, cluster nodes) before a test or a run may use them."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() > deadline:
            raise NodeError(f"{group} did not settle: {what} within {timeout_s:.0f} s")
        time.sleep(0.05)


def tail(text: str, lines: int = 15) -> str:
    """The end of a log, indented, for an error message."""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join("    " + line for line in kept) if kept else "    (empty log)"


def clear_dir(path: Path, *, keep: Collection[str] = ()) -> None:
    """Delete everything inside ``path`` except the names in ``keep``."""
    if not path.exists():
        path.mkdir(parents=True)
        return
    for child in path.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)
        else:
            _unlink(child)


def remove_tree(path: Path) -> None:
    """Remove a directory tree even where a container left read-only files or folders.

    A root-owned file in a folder we own can still be unlinked; what stops ``rmtree`` is a
    folder without write or search permission, so those get chmod-ed and retried.
    """

    def make_writable(func: Callable[..., object], name: str, exc: BaseException) -> None:
        if isinstance(exc, FileNotFoundError):
            return
        parent = os.path.dirname(name)
        try:
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, os.stat(name).st_mode | stat.S_IRWXU)
            func(name)
        except OSError as again:
            raise NodeError(
                f"cannot remove {name} ({again}): a container probably wrote it as another "
                f"user; delete it with sudo rm -rf {path}"
            ) from again

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=make_writable)
    else:
        shutil.rmtree(path, onerror=lambda func, name, info: make_writable(func, name, info[1]))


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except PermissionError:
        os.chmod(path.parent, os.stat(path.parent).st_mode | stat.S_IRWXU)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise NodeError(
                f"cannot delete {path} ({exc}): delete it with sudo rm -f {path}"
            ) from exc


_LIVE: set[RedisNode] = set()


def track(node: RedisNode) -> None:
    """Have ``node`` closed at interpreter exit unless it is closed before."""
    _LIVE.add(node)


def untrack(node: RedisNode) -> None:
    """Forget a closed node."""
    _LIVE.discard(node)


@atexit.register
def _close_all() -> None:
    """Close every node the program forgot, so no server outlives a normal exit."""
    for node in list(_LIVE):
        with contextlib.suppress(Exception):
            node.close()


class ManagedNode(RedisNode):
    """What every node kind of this project shares: how its address, password and data
    directory are chosen, its lock, and its snapshot ticker."""

    def _init_identity(
        self,
        *,
        host: str,
        port: int | None,
        password: str | None,
        data_dir: str | Path | None,
        persistence: Persistence,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.password = password if password is not None else new_password()
        self.persistence = persistence
        self._may_move = port is None  # an auto-picked port may change until the first start
        self._owns_dir = data_dir is None
        self.data_dir = Path(
            tempfile.mkdtemp(prefix="wordcount-redis-") if data_dir is None else data_dir
        )
        self._closed = False
        self._lock = threading.RLock()
        self._ticker = SnapshotTicker(
            lambda: self.client(socket_timeout=0.5, socket_connect_timeout=0.5),
            persistence.snapshot_interval_ms,
            name=f"bgsave-{self.port}",
        )
