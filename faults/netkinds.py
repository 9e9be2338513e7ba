"""Network faults of one run: the links of one engine process to Redis cut, reset or slowed.

A run whose scenario has a network kind (target :data:`faults.kinds.NETWORK`) puts a
:class:`~faults.netproxy.Proxy` between the engine and Redis: the driver and its workers
get the proxy's address in their Redis URL, while the nemesis, the sampler and the final
read go to Redis directly (the checker's view must not depend on the fault). A run
without one pays nothing: no proxy, the URL untouched.

A fault hits the process that reached its trigger, and only it: the proxy knows its
connections by the client's port, and :func:`client_ports` finds the ports a process
owns through ``/proc`` (its socket inodes, then the TCP table). A connection the process
opens while it is cut off or slowed is caught as it is accepted, so reconnecting does not
escape the fault. ``tc netem`` is not available here, and iptables outside a namespace of
our own would touch every program on the shared machine: the proxy is the tool.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faults.netproxy import Link, LinkMode, Proxy

SLOW_FRACTION = 10
"""``net-slow=MS`` delays each chunk by ``MS / SLOW_FRACTION`` for ``MS``: one number in
the scenario, and a longer slowdown is also a deeper one."""
_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets process ``pid`` holds open (empty if it is gone)."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = fd.readlink().name
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def client_ports(pid: int, server_port: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to ``server_port`` (the proxy's)."""
    inodes = socket_inodes(pid)
    ports: set[int] = set()
    if not inodes:
        return ports
    for table in _TABLES:
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[9] not in inodes:
                    continue
                if int(fields[2].rsplit(":", 1)[1], 16) == server_port:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class _ProcessProxy(Proxy):
    """A proxy that cuts or slows a new connection if its process is cut off or slowed,
    and follows the node to its current port (a restart may move it)."""

    def __init__(self, where: Callable[[], tuple[str, int]]) -> None:
        host, port = where()
        super().__init__(host, port)
        self.where = where
        self.cut: dict[int, LinkMode] = {}
        self.slowed: dict[int, float] = {}

    def new_link(self, link: Link) -> None:
        self.target = self.where()
        # The nemesis' thread adds and heals faults while this runs on the proxy's loop:
        # iterate over copies (a soak hit "dictionary changed size during iteration").
        for pid, mode in list(self.cut.items()):
            if link.client_port in client_ports(pid, self.port):
                link.owner = pid
                link.blackholed, link.replies_lost = mode == "blackhole", mode == "lose-replies"
        for pid, latency in list(self.slowed.items()):
            if link.client_port in client_ports(pid, self.port):
                link.owner, link.latency_ms = pid, latency


class EngineLinks:
    """The proxy of one run, made on first use, and the timers that end its faults."""

    def __init__(self) -> None:
        self.proxy: _ProcessProxy | None = None
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    def route(self, url: str, where: Callable[[], tuple[str, int]]) -> str:
        """``url`` with the proxy's address in place of Redis' (the proxy is started)."""
        proxy = _ProcessProxy(where)
        proxy.start()
        self.proxy = proxy
        parts = urllib.parse.urlsplit(url)
        login = parts.netloc.rpartition("@")[0]
        netloc = f"{login}@" if login else ""
        netloc += f"{proxy.host}:{proxy.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def cut(self, pid: int, ms: int, mode: LinkMode) -> dict[str, Any]:
        """Black-hole ``pid``'s links, or lose what Redis sends back on them, for ``ms``
        (then reset them: the process must reconnect); or reset them now (``drop``)."""
        proxy = self._proxy()
        ports = client_ports(pid, proxy.port)
        if mode != "drop":
            proxy.cut[pid] = mode
            self._later(ms, lambda: self.heal(pid))
        cut = proxy.cut_where(lambda link: _owned(link, pid, ports), mode)
        return {"pid": pid, "mode": mode, "ms": ms, "ports": cut}

    def slow(self, pid: int, ms: int) -> dict[str, Any]:
        """Delay every chunk of ``pid``'s links by ``ms / SLOW_FRACTION`` for ``ms``."""
        proxy = self._proxy()
        latency = ms / SLOW_FRACTION
        ports = client_ports(pid, proxy.port)
        proxy.slowed[pid] = latency
        self._later(ms, lambda: self._heal_slow(pid))
        slowed = proxy.slow_where(lambda link: _owned(link, pid, ports), latency)
        return {"pid": pid, "latency_ms": latency, "ms": ms, "ports": slowed}

    def heal(self, pid: int) -> None:
        """End ``pid``'s cut now: its cut connections are reset, new ones pass."""
        proxy = self._proxy()
        proxy.cut.pop(pid, None)
        proxy.cut_where(lambda link: link.owner == pid, "pass")

    def _heal_slow(self, pid: int) -> None:
        proxy = self._proxy()
        proxy.slowed.pop(pid, None)
        proxy.slow_where(lambda link: link.owner == pid, 0.0)

    def _proxy(self) -> _ProcessProxy:
        if self.proxy is None:
            raise RuntimeError("a network fault fired in a run without a proxy")
        return self.proxy

    def _later(self, ms: int, heal: Callable[[], None]) -> None:
        timer = threading.Timer(ms / 1000, _quietly(heal))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        """Cancel pending heals and stop the proxy (cutting what is left)."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        if self.proxy is not None:
            self.proxy.close()


def _owned(link: Link, pid: int, ports: set[int]) -> bool:
    if link.client_port in ports:
        link.owner = pid
        return True
    return False


def _quietly(heal: Callable[[], None]) -> Callable[[], None]:
    """A heal that finds the proxy closed (the run ended first) has nothing to do."""

    def run() -> None:
        with contextlib.suppress(RuntimeError, OSError, TimeoutError):
            heal()

    return run
