"""The driver's watch over hung workers (issue 12, item 2).

A worker whose only thread that matters hangs for ever (a deadlock, a system call that
never returns, a SIGSTOP from outside) holds its tasks. Its heartbeat says so: a stalled
worker writes ``stalled`` in its liveness key and stops renewing its claims, and a stopped
or dead one lets the key expire (engine/heartbeat.py). Any live worker then steals those
tasks; but when no live worker is left to do it (the job's only worker hangs), nobody
would, and the job would wait for ever.

So the driver looks, every half claim timeout, for tasks that have been stealable for a
whole grace period more (idle past the claim timeout plus the liveness grace, and the
owner not ``working``): nobody is stealing them. If the owner is one of the driver's own
worker processes, the driver starts a replacement at once (it steals the task) and kills
the hung process after :func:`kill_after_s`, as a MapReduce coordinator reassigns a task
after a timeout. Replacements count against the respawn budget, so a task that hangs
every worker cannot loop for ever; it is dead-lettered after ``--max-attempts`` thefts.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import redis
import redis.exceptions as rex

from engine import connection
from engine.errors import RedisUnavailableError
from engine.heartbeat import alive_ttl_ms
from engine.keys import GROUP, JobKeys
from engine.supervisor import WorkerPool

log = logging.getLogger("wordcount.watchdog")


def unattended_after_ms(claim_timeout_ms: int) -> int:
    """Idle this long, with an owner that is not working, and nobody is stealing it."""
    return alive_ttl_ms(claim_timeout_ms) + max(claim_timeout_ms, 1000)


def kill_after_s(claim_timeout_ms: int) -> float:
    """How long a hung worker lives on beside its replacement before it is killed."""
    return max(2 * claim_timeout_ms / 1000, 2.0)


def local_pid(consumer: str, host: str | None = None) -> int | None:
    """The PID in a consumer name (``host-pid-hex``) if it is a process of this host."""
    name, _, rest = consumer.rpartition("-")
    host_part, _, pid = name.rpartition("-")
    if not rest or host_part != (host or socket.gethostname()) or not pid.isdigit():
        return None
    return int(pid)


class HungWorkerWatch:
    """Finds tasks nobody steals and replaces the hung workers of ``pool`` holding them."""

    def __init__(
        self, client: redis.Redis, keys: JobKeys, claim_timeout_ms: int, pool: WorkerPool
    ) -> None:
        self.client = client
        self.keys = keys
        self.claim_timeout_ms = claim_timeout_ms
        self.pool = pool
        self._next = 0.0

    def check(self) -> None:
        """Look (at most every half claim timeout, and 250 ms); act on what is found."""
        self.pool.kill_due_hung()
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + max(self.claim_timeout_ms / 2000, 0.25)
        try:
            owners = connection.call(self.client, self._unattended_owners, deadline_s=1.0)
        except (RedisUnavailableError, rex.ResponseError):
            return  # Redis down or the job lost: the driver's poll handles that
        for owner in owners:
            pid = local_pid(owner)
            if pid is not None and self.pool.replace_hung(
                pid, kill_after_s(self.claim_timeout_ms)
            ):
                log.warning("worker %s holds a task nobody steals: started a replacement, "
                            "and it is stopped in %.0f s", owner,
                            kill_after_s(self.claim_timeout_ms))  # fmt: skip

    def _unattended_owners(self) -> list[str]:
        rows: list[dict[str, Any]] = self.client.xpending_range(
            self.keys.tasks, GROUP, "-", "+", 64,
            idle=unattended_after_ms(self.claim_timeout_ms),
        )  # fmt: skip
        owners = sorted({_text(row["consumer"]) for row in rows})
        if not owners:
            return []
        states = self.client.mget([self.keys.alive(owner) for owner in owners])
        return [owner for owner, state in zip(owners, states, strict=True)
                if state != b"working"]  # fmt: skip


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
