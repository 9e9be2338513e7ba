"""The ``sitecustomize`` the grader puts on a submission's ``PYTHONPATH``.

This file is copied as is into each run (it imports only the standard library and, when
the submission has it, redis-py). It wraps ``redis.Redis.execute_command`` so every
command a process sends is reported to the grader's controller before it is sent
(``before:XREADGROUP``) and after it returns (``after:XREADGROUP``), with the process'
own count of that command (``n``). The process waits for each answer: that is what makes
``worker#2.after:XREADGROUP#1`` a deterministic point where the grader may kill it, stall
it, or crash or restart Redis before letting it go on.

Without the controller's socket in the environment, or without redis-py, nothing happens.
If the controller goes away, the process carries on without faults.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import Any

ENV = "WC_GRADE_CONTROLLER"
SECRET_COMMANDS = frozenset({"AUTH", "HELLO", "MIGRATE", "CONFIG"})


def plain(value: Any, depth: int = 0) -> Any:
    """A small JSON-ready copy of a command's arguments or reply (bytes as text)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= 120 else value[:117] + "..."
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if depth > 4:
        return "..."
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in list(value)[:24]]
    return plain(repr(value), depth)


class Reporter:
    """This process' line to the controller (one connection for its whole life)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.counts: dict[str, int] = {}
        self.dead = False

    def forget(self) -> None:
        """In a forked child (a driver may fork its workers): its own connection, counts
        and lock. Sharing the parent's socket mixed the two processes' replies, and the
        parent could wait for ever for a reply its child had read."""
        self.lock = threading.Lock()
        self.sock = None
        self.reader = None
        self.counts = {}
        self.dead = False

    def ask(self, point: str, ctx: dict[str, Any]) -> None:
        if self.dead:
            return
        message = {"point": point, "ctx": ctx, "pid": os.getpid(), "role": "shim"}
        with self.lock:
            try:
                if self.sock is None:
                    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.sock.connect(self.path)
                    self.reader = self.sock.makefile("rb")
                self.sock.sendall(json.dumps(message).encode() + b"\n")
                reply = json.loads(self.reader.readline() or b"{}")
            except (OSError, ValueError):
                self.dead = True
                return
        act(reply)

    def number(self, name: str) -> int:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            return self.counts[name]


def act(reply: dict[str, Any]) -> None:
    """Do what the controller said (a kill or stop it does itself, from outside)."""
    action = reply.get("do", "continue")
    if action == "crash":
        os._exit(137)
    if action == "slow":
        time.sleep(float(reply.get("ms", 0)) / 1000)
    if action == "hang":
        while True:
            time.sleep(3600)


def install(path: str) -> None:
    try:
        import redis.client  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return
    reporter = Reporter(path)
    os.register_at_fork(after_in_child=reporter.forget)
    original: Any = redis.client.Redis.execute_command

    def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        name = str(plain(args[0])).upper().replace(" ", "_") if args else "?"
        n = reporter.number(name)
        shown = ["***"] if name in SECRET_COMMANDS else plain(list(args[1:8]))
        reporter.ask("before:" + name, {"n": n, "args": shown})
        try:
            result = original(self, *args, **options)
        except Exception as exc:
            reporter.ask("after:" + name, {"n": n, "ok": False, "error": type(exc).__name__})
            raise
        reporter.ask("after:" + name, {"n": n, "ok": True, "result": plain(result)})
        return result

    redis.client.Redis.execute_command = execute_command  # type: ignore[method-assign]


if os.environ.get(ENV):
    install(os.environ[ENV])
