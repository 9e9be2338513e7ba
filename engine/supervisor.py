"""Local worker processes: starting them, replacing the ones that die, stopping them.

Workers are separate Python processes running ``wordcount worker``, exactly what a user
runs on another host, so the local case exercises the same code as the distributed one.
The Redis URL travels in the environment, not the command line, to keep a password out
of ``ps``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

from engine import forkstart
from engine.errors import WordCountError

Proc = subprocess.Popen[bytes] | forkstart.ForkedWorker
"""A worker process: an interpreter of its own, or forked from the driver."""
URL_ENV = "WORDCOUNT_REDIS_URL"


class WorkersExhaustedError(WordCountError):
    """Workers kept dying and the respawn budget ran out."""


class WorkerPool:
    """N worker processes for one job, kept at N while the job runs."""

    def __init__(
        self,
        redis_url: str,
        job_id: str,
        workers: int,
        *,
        max_respawns: int | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.job_id = job_id
        self.size = workers
        self.max_respawns = 3 * workers + 2 if max_respawns is None else max_respawns
        self.respawns = 0
        self.env = dict(env or {})
        self.extra_args = list(extra_args or [])
        self.procs: list[Proc] = []
        self.exit_codes: list[int] = []
        self.hung: list[tuple[Proc, float]] = []
        """Hung workers already replaced, with when to kill them (engine/watchdog.py)."""

    def _spawn(self) -> Proc:
        env = {**os.environ, **self.env, URL_ENV: self.redis_url}
        args = ["worker", "--job", self.job_id, *self.extra_args]
        with forkstart.threads_paused():  # the embedded Redis watch, for the fork
            if forkstart.can_fork():  # no interpreter start-up: engine/forkstart.py
                return forkstart.fork_worker(args, env)
        return subprocess.Popen([sys.executable, "-m", "engine", *args], env=env,
                                stdin=subprocess.DEVNULL)  # fmt: skip

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]

    def check(self) -> None:
        """Replace workers that died (non-zero exit) while the job is still running."""
        for i, proc in enumerate(self.procs):
            code = proc.poll()
            if code is None or code == 0:
                continue
            self.exit_codes.append(code)
            if self.respawns >= self.max_respawns:
                raise WorkersExhaustedError(
                    f"workers died {self.respawns + 1} times (last exit status {code}); "
                    "their messages above say why. Raise --max-respawns to keep trying"
                )
            self.respawns += 1
            self.procs[i] = self._spawn()

    def replace_exited(self) -> None:
        """Start workers again in the places of ones that exited cleanly.

        The driver calls this when no worker is left but the job is not finished: Redis
        lost the job after they saw it finished, or a worker implementation gave up early.
        Each counts against the respawn budget, so a worker that keeps quitting cannot
        loop for ever.
        """
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                continue
            if self.respawns >= self.max_respawns:
                raise WorkersExhaustedError(
                    "every worker exited while the job was unfinished, "
                    f"{self.respawns} times; raise --max-respawns to keep trying"
                )
            self.respawns += 1
            self.procs[i] = self._spawn()

    def replace_hung(self, pid: int, kill_after_s: float) -> bool:
        """Start a worker in the place of the hung worker ``pid`` (if it is one of ours,
        alive, and not replaced yet), and kill it ``kill_after_s`` later."""
        for i, proc in enumerate(self.procs):
            if proc.pid != pid or proc.poll() is not None:
                continue
            if self.respawns >= self.max_respawns:
                raise WorkersExhaustedError(
                    f"workers hung or died {self.respawns + 1} times; the log above says "
                    "which tasks they held. Raise --max-respawns to keep trying"
                )
            self.respawns += 1
            self.hung.append((proc, time.monotonic() + kill_after_s))
            self.procs[i] = self._spawn()
            return True
        return False

    def kill_due_hung(self, now: float | None = None) -> None:
        """Kill the replaced hung workers whose time is up (SIGKILL: a stopped process
        ignores anything else until it is continued)."""
        now = time.monotonic() if now is None else now
        keep = []
        for proc, when in self.hung:
            if proc.poll() is not None:
                continue
            if when > now:
                keep.append((proc, when))
                continue
            proc.kill()
            proc.wait()
        self.hung = keep

    def alive(self) -> int:
        return sum(1 for proc in self.procs if proc.poll() is None)

    def stop(self, grace_s: float = 5.0) -> None:
        """Wait briefly for workers to finish on their own, then terminate, then kill."""
        self.kill_due_hung(now=float("inf"))  # they will not finish: no need to wait
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
