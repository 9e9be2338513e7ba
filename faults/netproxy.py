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
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Literal

from engine.nodes.common import free_port

Mode = Literal["pass", "blackhole", "drop"]
_CHUNK = 65536


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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "drop":
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction, chunk by chunk, each delayed by the latency when it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer))
        try:
            while data := await reader.read(_CHUNK):
                if self.mode == "pass":
                    queue.put_nowait((time.monotonic() + self.latency_ms / 1000, data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await sender

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.mode != "pass":
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
