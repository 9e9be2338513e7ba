"""A fork server for the drivers the fault runner starts: ``python -m faults.forkserver SOCKET``.

A fresh ``python -m engine run`` spends most of a second of a loaded machine importing
redis and the engine before it bootstraps anything, and the suite starts one (or more)
per scenario. This process imports what a driver imports at start-up once, then forks
one child per request; the child becomes exactly the ``python -m engine ...`` that was
asked for: its own session (as ``start_new_session``), stdin from ``/dev/null``, stdout
and stderr appended to the log, the requested working directory and environment (the
crash-point hook and the controller's address included: they are read from the
environment when the driver starts, as before), ``sys.argv`` as ``-m`` sets it, and the
module run as ``__main__``. It exits as the interpreter would: non-daemon threads joined,
exit hooks run, streams flushed. Nothing is imported ahead that the driver imports only
later (pandas for a CSV, numpy for MapReduce), so the child does what a fresh driver does.

The runner's side is :mod:`faults.zygote`. Protocol, one Unix connection per driver: the
runner sends one JSON line ``{"argv", "env", "cwd", "log"}``; the server answers
``{"pid": N}`` (or ``{"error": ...}``) and, when the child ends, ``{"exit": CODE}``
(``CODE`` as :attr:`subprocess.Popen.returncode`: negative for a signal), learnt through
a pidfd, so no poll delays it. The server exits when its stdin closes (its owner is gone).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

PRELOAD = (
    "engine.cli", "engine.inputs", "engine.driver", "engine.plugins", "engine.flow.cli",
    "engine.worker", "engine.flow.worker", "faults.agent",
)  # fmt: skip
"""What every driver, or every worker it forks, imports as it starts (``python -X
importtime -m engine run``): ``engine.cli`` brings redis and the command modules,
``faults.agent`` is the crash-point hook the runner's environment names."""


class _Server:
    """The accept loop: requests in, children out, exit statuses back."""

    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept",))
        self.selector.register(0, selectors.EVENT_READ, ("owner",))
        self.children: dict[int, tuple[int, socket.socket]] = {}
        """pid -> (its pidfd, the connection that asked for it)"""

    def loop(self) -> None:
        while True:
            for key, _ in self.selector.select():
                tag = key.data
                if tag[0] == "accept":
                    conn, _ = self.listener.accept()
                    self.selector.register(conn, selectors.EVENT_READ, ("request", conn))
                elif tag[0] == "owner":
                    if not os.read(0, 4096):
                        return  # the runner's process is gone: so are we
                elif tag[0] == "request":
                    self.selector.unregister(tag[1])
                    self._request(tag[1])
                else:
                    self._reap(tag[1])

    def _request(self, conn: socket.socket) -> None:
        try:
            request = json.loads(_read_line(conn))
            pid = os.fork()
        except (OSError, ValueError) as exc:
            _send(conn, {"error": f"{type(exc).__name__}: {exc}"})
            conn.close()
            return
        if pid == 0:
            code = 1
            try:
                self._drop_in_child(conn)
                code = become(request)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        pidfd = os.pidfd_open(pid)
        self.children[pid] = (pidfd, conn)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        _send(conn, {"pid": pid})

    def _reap(self, pid: int) -> None:
        pidfd, conn = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
        conn.close()

    def _drop_in_child(self, conn: socket.socket) -> None:
        """Close everything of the server's in a child: it must hold no connection that
        would keep a runner waiting, and no listener."""
        self.selector.close()
        self.listener.close()
        conn.close()
        for pidfd, other in self.children.values():
            os.close(pidfd)
            other.close()


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a whole request")
        data += chunk
    return data


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the runner gave up on it; it is reaped all the same
        conn.sendall(json.dumps(message).encode() + b"\n")


def become(request: dict[str, Any]) -> int:
    """Turn this forked child into ``python -m MODULE ARGS`` and return its exit status."""
    argv: list[str] = request["argv"]
    if len(argv) < 3 or argv[1] != "-m":
        print(f"faults.forkserver: cannot run {argv[:3]}: only python -m MODULE", file=sys.stderr)
        return 2
    os.setsid()
    _redirect(request["log"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    _fresh_streams(unbuffered=bool(os.environ.get("PYTHONUNBUFFERED")))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.argv = [argv[0], *argv[3:]]  # runpy puts the module's path first, as -m does
    code = _run(argv[2])
    threading._shutdown()  # type: ignore[attr-defined]  # the interpreter joins threads first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def _run(module: str) -> int:
    """Run ``module`` as ``__main__``; the exit status a fresh interpreter would give."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        return 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _redirect(log_path: str) -> None:
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _fresh_streams(*, unbuffered: bool) -> None:
    """New ``sys.stdout``/``sys.stderr`` on fds 1 and 2, buffered as a new interpreter's
    would be (``PYTHONUNBUFFERED`` included), so that a crash loses no more output."""
    encoding = sys.stdout.encoding  # what this interpreter chose for a file, as a new one would
    for name, fd, errors in (("stdout", 1, "strict"), ("stderr", 2, "backslashreplace")):
        raw = io.FileIO(fd, "w", closefd=False)
        binary: Any = raw if unbuffered else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(binary, encoding=encoding, errors=errors,
                                  line_buffering=name == "stderr" and not unbuffered,
                                  write_through=unbuffered)  # fmt: skip
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m faults.forkserver SOCKET", file=sys.stderr)
        return 2
    for module in PRELOAD:
        __import__(module)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the runner's to handle
    server = _Server(argv[0])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
