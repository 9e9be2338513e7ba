"""Running the app with uvicorn: in the foreground (``serve``) or on a thread (``run --serve``).

The socket is bound here, before uvicorn starts, so a port in use is one ``error:`` line
rather than a log message from inside a thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import uvicorn

from engine.errors import ConfigError
from engine.web.app import WebConfig, create_app

START_TIMEOUT_S = 30.0


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port "
            "or --host"
        ) from exc
    sock.listen(128)
    return sock


class WebServer:
    """A uvicorn server on a socket of its own; :meth:`start` runs it on a daemon thread."""

    def __init__(self, config: WebConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.sock = bind(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.app = create_app(config)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=1,
                lifespan="off",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self.serve_forever, name="web", daemon=True)
        self._thread.start()
        give_up = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > give_up:
                raise ConfigError(f"the web server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def drain(self, timeout_s: float) -> None:
        """Wait until no event stream is open (each ends once its job has), or the timeout."""
        give_up = time.monotonic() + timeout_s
        while self.app.state.streams.open and time.monotonic() < give_up:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()
