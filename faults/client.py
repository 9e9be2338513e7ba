"""The client role: the processes a run drives, namely the real ``python -m engine run``.

The driver runs as a subprocess in a session of its own, and the workers it spawns stay
in its process group, so one ``killpg`` ends the driver and every worker whatever state
they are in (crashed driver, hung worker, Ctrl-C in the test). The crash hook, the
controller's address and the reported points travel in the environment, which workers
inherit from the driver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from engine import crashpoints
from engine.job import BOOTSTRAP_BATCH_ENV
from engine.supervisor import URL_ENV
from faults import zygote
from faults.agent import CONTROLLER_ENV, HOOK_SPEC, POINTS_ENV
from faults.errors import RunnerError
from faults.scenario import Scenario

PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


def driver_argv(
    scenario: Scenario,
    data_dir: str,
    job_id: str,
    *,
    engine: str | None = None,
    output: str | None = None,
) -> list[str]:
    """The command line of the driver for ``scenario`` (the Redis URL is in the env);
    ``output``: where it writes the counts it delivers (``--output``, JSON)."""
    settings = scenario.settings
    respawns = 3 * scenario.workers + 2 * len(scenario.faults) + 10
    argv = [
        sys.executable, "-m", "engine", "run", data_dir,
        "--job", job_id,
        "--workers", str(scenario.workers),
        "--claim-timeout", f"{settings.claim_timeout_ms}ms",
        "--max-attempts", str(settings.max_attempts),
        "--max-respawns", str(respawns),
        "--split-on", settings.split_on,
        "--chunk-size", str(settings.chunk_bytes),  # always: 0 must override the default
        "--top", "0",
        "--no-progress",
    ]  # fmt: skip
    if settings.lower:
        argv.append("--lower")
    if settings.csv_column:
        argv += ["--csv-column", settings.csv_column]
    if settings.embedded:  # the driver starts its own Redis, with the scenario's persistence
        argv += ["--persistence", settings.persistence]
    if settings.replicas:  # a group's Sentinel URL: commits wait for this many replicas
        argv += ["--sync-replicas", str(settings.sync_replicas)]
    if engine:
        argv += ["--engine", engine]
    if output:
        argv += ["--output", output]
    return argv


def driver_env(
    redis_url: str | None, controller: str, points: Sequence[str], bootstrap_batch: int
) -> dict[str, str]:
    """The environment of the driver, inherited by its workers; no Redis URL (``None``):
    the driver starts an embedded Redis."""
    path = os.environ.get("PYTHONPATH")
    inherited = {k: v for k, v in os.environ.items() if k != URL_ENV}
    return {
        **inherited,
        **({URL_ENV: redis_url} if redis_url else {}),
        crashpoints.HOOK_ENV: HOOK_SPEC,
        CONTROLLER_ENV: controller,
        POINTS_ENV: ",".join(points),
        BOOTSTRAP_BATCH_ENV: str(bootstrap_batch),
        "PYTHONPATH": PROJECT_ROOT + (os.pathsep + path if path else ""),
        "PYTHONUNBUFFERED": "1",
    }


class DriverProcess:
    """One incarnation of the driver, its output appended to ``log_path``: forked from the
    fork server (:mod:`faults.zygote`), or a fresh interpreter when that is turned off."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | zygote.ServedProcess | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RunnerError("the driver was not started: call start() first")
        return self.proc.pid

    def start(self) -> None:
        if zygote.enabled() and self.argv[1:3] == ["-m", "engine"]:
            self.proc = zygote.spawn(self.argv, self.env, self.log_path)
            return
        try:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self.argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise RunnerError(f"cannot start the driver {self.argv[:4]}: {exc}") from exc

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout_s: float) -> int | None:
        """The exit status, waiting up to ``timeout_s`` for it (``None``: still running).
        Returns as soon as the driver exits, where a sleep would wait its whole length."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self) -> None:
        """SIGKILL the driver's whole process group (its workers included) and reap it."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()


def kill_ours(pids: set[int], marker: str, sessions: Collection[int] = ()) -> list[int]:
    """SIGKILL those of ``pids`` still alive whose environment holds ``marker`` or that
    belong to one of the ``sessions`` (the run's driver PIDs: each driver leads one).

    The marker (the run's controller path) proves a PID still belongs to this run and was
    not reused by an unrelated process since it reported. A process forked from the fork
    server or from a driver shows the environment it was exec'd with, not its own, so
    for those the session their driver opened is the proof.
    """
    killed = []
    needle = marker.encode()
    for pid in sorted(pids):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            session = os.getsid(pid)
        except OSError:
            continue  # gone already, or not ours to read
        if needle in environ or session in sessions:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
