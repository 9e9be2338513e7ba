"""A TCP proxy on loopback that can slow, drop or black-hole the connections through it.

``tc netem`` is not available on this kernel, and iptables outside a namespace of our own
would touch every other program on the machine, so network faults go through this proxy
instead: put it between two parties (a worker and Redis, a replica and its primary, a
Sentinel and a node) and change its :attr:`mode` or latency at any time.

- ``pass``: bytes flow, each chunk delayed by ``latency_ms`` (order kept).
- ``blackhole``: connections stay open and new ones are accepted, but nothing is
  forwarded and what was sent is discarded: the peer sees a silent network and waits for
  its timeouts, as behind a partition.
- ``drop``: every connection is reset and new ones are closed at once (a crashed link).

It runs its own asyncio loop in a daemon thread, so tests and the nemesis call it from
ordinary code.

Each connection can also be cut or slowed on its own (:meth:`Proxy.cut_where`,
:meth:`Proxy.slow_where`, chosen by the client's port), which is how a fault hits one
process's links and not its neighbours'.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Literal

from engine.nodes.common import free_port

Mode = Literal["pass", "blackhole", "drop"]
LinkMode = Literal["pass", "blackhole", "drop", "lose-replies"]
"""What :meth:`Proxy.cut_where` does to chosen connections; ``lose-replies`` forwards the
client's requests but discards what comes back (the request ran; did it?)."""
_CHUNK = 65536


@dataclasses.dataclass(eq=False)
class Link:
    """One proxied connection: the client's port, both streams, and its own fault."""

    client_port: int
    down: asyncio.StreamWriter
    up: asyncio.StreamWriter
    blackholed: bool = False
    replies_lost: bool = False
    latency_ms: float = 0.0
    owner: int = 0
    """Whom the caller says it belongs to (a process ID; 0: not known)."""


class Proxy:
    """Listens on ``listen_port`` (picked when ``None``) and forwards to the target."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:  # fmt: skip
        self.target = (target_host, target_port)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.mode: Mode = "pass"
        self.latency_ms = 0.0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self.links: set[Link] = set()
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)

    def __repr__(self) -> str:
        return f"Proxy({self.port} -> {self.target[1]}, {self.mode}, {self.latency_ms} ms)"

    def start(self) -> Proxy:
        self._thread.start()
        self._ready.wait(10)
        if self._server is None:
            raise OSError(f"proxy could not listen on {self.host}:{self.port}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
            )
        finally:
            self._ready.set()
        if self._server is not None:
            self._loop.run_forever()
        self._drain()

    def _drain(self) -> None:
        """Let the cancelled connection tasks end, then close the loop: a loop left for
        the garbage collector closes under transports that still call it."""
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    def set_mode(self, mode: Mode) -> None:
        """Change what happens to traffic. ``drop`` resets open connections; so does
        healing a black hole (``pass`` after ``blackhole``): those streams lost bytes, and
        a real TCP connection would have timed out by the time a partition heals."""
        healed = self.mode == "blackhole" and mode == "pass"
        self.mode = mode
        if mode == "drop" or healed:
            self._loop.call_soon_threadsafe(self._reset_all)

    def set_latency(self, ms: float) -> None:
        self.latency_ms = ms

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        self.links.clear()

    def cut_where(self, chosen: Callable[[Link], bool], mode: LinkMode) -> list[int]:
        """Black-hole (``blackhole``), lose the replies of (``lose-replies``), reset
        (``drop``) or heal (``pass``: reset if it was cut, as :meth:`set_mode` does) the
        connections ``chosen`` picks;
        returns their client ports. Thread-safe: it waits for the proxy's loop."""
        return self._on_loop(lambda: self._cut(chosen, mode))

    def slow_where(self, chosen: Callable[[Link], bool], latency_ms: float) -> list[int]:
        """Delay the chunks of the connections ``chosen`` picks by ``latency_ms`` more."""

        def slow() -> list[int]:
            picked = [link for link in self.links if chosen(link)]
            for link in picked:
                link.latency_ms = latency_ms
            return sorted(link.client_port for link in picked)

        return self._on_loop(slow)

    def _on_loop(self, job: Callable[[], list[int]]) -> list[int]:
        if not self._thread.is_alive():
            return []  # closed: no connection left to change
        future = asyncio.run_coroutine_threadsafe(_call(job), self._loop)
        return future.result(10)

    def _cut(self, chosen: Callable[[Link], bool], mode: LinkMode) -> list[int]:
        picked = [link for link in self.links if chosen(link)]
        for link in picked:
            cut = link.blackholed or link.replies_lost
            reset = mode == "drop" or (mode == "pass" and cut)
            link.blackholed = mode == "blackhole"
            link.replies_lost = mode == "lose-replies"
            if reset:
                self._abort(link)
        return sorted(link.client_port for link in picked)

    def _abort(self, link: Link) -> None:
        self.links.discard(link)
        for writer in (link.down, link.up):
            with contextlib.suppress(Exception):
                writer.transport.abort()
            self._writers.discard(writer)

    def new_link(self, link: Link) -> None:
        """Called for each accepted connection before bytes flow: a subclass may cut or
        slow it from the start (a process cut off reconnecting)."""

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        peer = writer.get_extra_info("peername")
        link = Link(int(peer[1]) if peer else 0, writer, up_writer)
        self.new_link(link)
        self._writers.update((writer, up_writer))
        self.links.add(link)
        try:
            await asyncio.gather(self._pipe(reader, up_writer, link, False),
                                 self._pipe(up_reader, writer, link, True))  # fmt: skip
        except asyncio.CancelledError:
            pass  # the proxy is closing: its links end with it (asyncio would log a traceback)
        finally:
            self.links.discard(link)

    def _passes(self, link: Link, reply: bool) -> bool:
        return self.mode == "pass" and not link.blackholed and not (reply and link.replies_lost)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link,
        reply: bool,
    ) -> None:  # fmt: skip
        """Copy one direction (``reply``: from the target back to the client), chunk by
        chunk, each delayed by the latency when it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer, link, reply))
        try:
            while data := await reader.read(_CHUNK):
                if self._passes(link, reply):
                    delay = self.latency_ms + link.latency_ms
                    queue.put_nowait((time.monotonic() + delay / 1000, data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await sender

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter, link: Link,
        reply: bool,
    ) -> None:  # fmt: skip
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not self._passes(link, reply):
                    continue  # black-holed while in flight: lost
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    def close(self) -> None:
        """Stop listening and cut every connection."""
        if not self._thread.is_alive():
            return

        def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._reset_all()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)


async def _call(job: Callable[[], list[int]]) -> list[int]:
    return job()
