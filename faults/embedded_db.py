"""The database role when the driver runs its own embedded Redis (``settings.embedded``).

The runner starts no Redis then: the driver does (``wordcount run`` without
``--redis-url``), and supervising it is the driver's job, which is what such scenarios
test (issue 11, bug 3: an embedded Redis killed while the driver sat in a retried call was
never restarted). The runner finds the server the way any local tool of the same user
could: the ``redis-server`` child of the driver process, its address from its process
title (``redis-server HOST:PORT``), its data directory from its working directory (Redis
changes to ``--dir``), and its password from the 0600 config file the driver wrote there
(:data:`engine.nodes.common.CONFIG_NAME`), never from an argument.

A kill here only kills: SIGKILL the server while the driver is stopped (SIGSTOP), so the
driver cannot start it again before the nemesis has read what it will come back with
(:func:`faults.persisted.read_persisted`), then continue the driver and leave the restart
to it. Wipes are not drawn in this mode: the data directory is the driver's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import redis

from engine.errors import NodeError
from engine.keys import JobKeys
from engine.nodes.base import Persistence, RedisNode
from engine.nodes.common import CONFIG_NAME
from faults.db import DB, NEMESIS
from faults.errors import RunnerError
from faults.history import History
from faults.persisted import read_persisted

FOUND_WITHIN_S = 30.0
"""How long after the driver starts its server may take to appear (a loaded machine)."""
BACK_WITHIN_S = 5.0
"""How long a kill waits for a server killed just before to be restarted by the driver."""
_ADDRESS = re.compile(r"redis-server (\S+):(\d+)")
_PASSWORD = re.compile(r'^requirepass "((?:[^"\\]|\\.)*)"', re.M)


def _children(pid: int) -> list[int]:
    """PIDs of the running processes whose parent is ``pid`` (zombies left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


class DriverRedis(RedisNode):
    """The embedded ``redis-server`` of a driver process, seen from outside."""

    def __init__(self, persistence: Persistence) -> None:
        self.persistence = persistence
        self.host, self.port, self.password = "127.0.0.1", 0, ""
        self.data_dir: Path | None = None
        self.driver_pid: int | None = None
        self._server_pid: int | None = None
        self.killed_pid: int | None = None
        """The server the last kill ended (its successor is another PID)."""

    def attach(self, driver_pid: int) -> None:
        """Follow the server of this driver (a restarted driver starts a new one)."""
        self.driver_pid, self._server_pid = driver_pid, None

    def server_pid(self) -> int | None:
        """The running server's PID, learning its address the first time it is seen."""
        if self.driver_pid is None:
            return None
        for pid in _children(self.driver_pid):
            proc = Path(f"/proc/{pid}")
            try:
                if (proc / "comm").read_text().strip() != "redis-server":
                    continue
                if pid != self._server_pid:
                    title = (proc / "cmdline").read_bytes().decode().split("\0")[0]
                    self._learn(title, Path(os.readlink(proc / "cwd")))
            except (OSError, ValueError):
                continue  # gone, or not listening yet (its title names no port)
            self._server_pid = pid
            return pid
        return None

    def _learn(self, title: str, folder: Path) -> None:
        address = _ADDRESS.search(title)
        if address is None:
            raise ValueError(f"no address in the title {title[:60]!r}")
        found = _PASSWORD.search((folder / CONFIG_NAME).read_text())
        if found is None:
            raise NodeError(f"no password in the embedded Redis's {folder / CONFIG_NAME}")
        self.password = re.sub(r"\\(.)", r"\1", found.group(1))
        self.host, self.port, self.data_dir = address[1], int(address[2]), folder

    def wait_found(self, timeout_s: float = FOUND_WITHIN_S) -> int:
        give_up = time.monotonic() + timeout_s
        while (pid := self.server_pid()) is None:
            if time.monotonic() > give_up:
                raise NodeError(f"the driver started no Redis within {timeout_s:.0f} s")
            time.sleep(0.02)
        return pid

    def client(self, **kwargs: object) -> Any:
        if not self.port:
            self.wait_found()
        return super().client(**kwargs)

    def start(self) -> None:
        """The driver starts it: nothing to do."""

    def stop(self) -> None:
        """The driver stops it when it exits: nothing to do."""

    def restart(self, *, wipe: bool = False, downtime_s: float = 0.0) -> None:
        raise NodeError("the driver restarts its embedded Redis, not the runner")

    def kill(self) -> None:
        pid = self.any_server_pid() or self.server_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_dead(pid)
            self.killed_pid = pid

    def any_server_pid(self) -> int | None:
        """A ``redis-server`` child of the driver, listening yet or not (a kill may land
        while it starts: :meth:`EmbeddedDB.kill_starting`)."""
        if self.driver_pid is None:
            return None
        for pid in _children(self.driver_pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server":
                    return pid
        return None

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        pid = self._server_pid or self.server_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def is_running(self) -> bool:
        return self.server_pid() is not None


def _wait_dead(pid: int, timeout_s: float = 5.0) -> None:
    """Until ``pid`` is gone or a zombie (its files are then final)."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat[stat.rfind(")") + 2] == "Z":
            return
        time.sleep(0.005)


class EmbeddedDB(DB):
    """:class:`DB` for a driver's embedded Redis (see the module docstring)."""

    node: DriverRedis

    def __init__(self, persistence: Persistence, history: History) -> None:
        super().__init__(DriverRedis(persistence), history, owned=False)

    @property
    def url(self) -> str:
        raise RunnerError("an embedded Redis has no URL to give the driver: it starts it")

    def setup(self) -> None:
        self.history.add("ok", "nemesis", "redis-start", {"embedded": True})

    def teardown(self) -> None:
        if self.node.is_running():
            self.node.resume()  # the driver's group is killed; its server dies with it

    def kill(self, keys: JobKeys, downtime_ms: int, *, wipe: bool) -> dict[str, Any]:
        """SIGKILL the server with the driver stopped, read what it will come back with,
        and let the driver go on (and restart it, or not: that is under test)."""
        if wipe:
            raise NodeError("redis-wipe is not drawn with an embedded Redis")
        driver = self.node.driver_pid
        if driver is None:
            raise NodeError("no driver is running: its embedded Redis cannot be killed")
        if not self._answering():  # down from an earlier kill: the driver may restart it
            return {"down": True}  # never restarted: nothing to kill, the job will tell
        return self._kill_held(driver, keys, downtime_ms)

    def _kill_held(self, driver: int, keys: JobKeys, downtime_ms: int) -> dict[str, Any]:
        """Kill the server with the driver stopped; what the next one comes back with."""
        os.kill(driver, signal.SIGSTOP)
        try:
            self.node.kill()
            time.sleep(downtime_ms / 1000)
            assert self.node.data_dir is not None
            state = read_persisted(self.node, keys)  # type: ignore[arg-type]
            restart_at = self.history.now()
        finally:
            os.kill(driver, signal.SIGCONT)
        return {**state.to_data(), "restart_at": round(restart_at, 6)}

    def kill_starting(self, keys: JobKeys, downtime_ms: int) -> dict[str, Any]:
        """Kill the server, then kill the one the driver starts in its place as soon as
        its process exists, before it can answer: the driver's restart fails, and it must
        try again (the engine once gave up there: ``faults.buggy_review``). The first
        kill is recorded on its own; the second, like any kill, reads what the third
        server will come back with."""
        first = self.kill(keys, downtime_ms, wipe=False)
        if first.get("down"):
            return first
        self.history.add("ok", NEMESIS, "redis-kill", {**first, "then": "kill while starting"})
        killed = self.node.killed_pid
        give_up = time.monotonic() + FOUND_WITHIN_S
        while (pid := self.node.any_server_pid()) in (None, killed):
            if time.monotonic() > give_up:
                return {"second": "the driver started no server to kill"}
            time.sleep(0.001)
        driver = self.node.driver_pid
        assert driver is not None
        return {**self._kill_held(driver, keys, 0), "second_pid": pid}

    def _answering(self) -> bool:
        """Whether the server answers PING within :data:`BACK_WITHIN_S`. A second kill
        waits for the first one's restart to finish: a server killed while it starts is
        another fault."""
        give_up = time.monotonic() + BACK_WITHIN_S
        while time.monotonic() < give_up:
            try:
                self.node.wait_found(BACK_WITHIN_S)
                client = self.node.client(socket_timeout=0.5, socket_connect_timeout=0.5)
                try:
                    if client.ping():
                        return True
                finally:
                    client.close()
            except (NodeError, redis.RedisError, OSError):
                time.sleep(0.02)
        return False

    def snapshot(self) -> dict[str, Any]:
        """BGSAVE once the server answers (an earlier kill's restart may be under way)."""
        if not self._answering():
            return {"down": True}
        return super().snapshot()

    def pause(self, ms: int) -> dict[str, Any]:
        """SIGSTOP the server for ``ms`` once it answers (not one that is starting)."""
        if not self._answering():
            return {"down": True}
        return super().pause(ms)

    def restart_empty(self, keys: JobKeys) -> dict[str, Any]:
        raise NodeError("redis-restart-empty is not drawn with an embedded Redis")
