"""A crash-point hook for tests/test_embedded_watch.py: the first worker to reach
``worker.before_commit`` keeps the Redis server it talks to (the driver's embedded one)
busy with a long script, as a long commit would, so that every other client, the driver
among them, is waiting inside a call; then it SIGKILLs the server. The marker file makes
it happen once."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from engine.supervisor import URL_ENV

MARKER_ENV = "KILL_REDIS_MARKER"
BUSY_BEFORE_KILL_S = 0.5
LONG_SCRIPT = """
local start = redis.call('TIME')
while true do
  local now = redis.call('TIME')
  if (now[1] - start[1]) * 1000000 + (now[2] - start[2]) > 3000000 then return 1 end
end
"""


def _keep_busy(url: str) -> None:
    """Run a 3 s script (under Redis's 5 s busy threshold): it dies with the server."""
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url, socket_timeout=30).eval(LONG_SCRIPT, 0)


def install() -> Callable[[str, dict[str, Any]], None]:
    marker = os.environ[MARKER_ENV]

    def hook(point: str, context: dict[str, Any]) -> None:
        if point != "worker.before_commit":
            return
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        url = os.environ[URL_ENV]
        client = redis.Redis.from_url(url)
        pid = int(client.info("server")["process_id"])
        client.close()
        busy = threading.Thread(target=_keep_busy, args=(url,), daemon=True)
        busy.start()
        time.sleep(BUSY_BEFORE_KILL_S)
        os.kill(pid, signal.SIGKILL)
        busy.join()

    return hook
