"""Running the contenders as separate processes, timed from outside, memory polled.

Every contender (``wordcount run``, ``wordcount serial``, the multiprocessing and Dask
peers) is started the same way, as a fresh Python process, and timed by wall clock from
start to exit: the numbers include interpreter start-up and imports for all of them alike,
which is what a user waiting for the command sees.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
POLL_S = 0.05


class BenchError(RuntimeError):
    """A contender failed or timed out: the experiment's numbers would be meaningless."""


@dataclasses.dataclass
class Outcome:
    """One timed process run."""

    seconds: float
    returncode: int
    worker_rss_mb: float = 0.0
    """Peak resident memory of the largest ``wordcount worker`` child, if any."""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def __lt__(self, other: Outcome) -> bool:
        return self.seconds < other.seconds


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for contenders: this repository importable (hooks, engines)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.pop("WORDCOUNT_CRASH_HOOK", None)
    env.setdefault("WORDCOUNT_WORKER_START", "exec")  # workers found by cmdline, RSS their own
    env.update(extra or {})
    return env


def timed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    check: bool = True,
) -> Outcome:
    """Run ``cmd`` to completion, polling its workers' memory; raise if it fails and
    ``check`` (a failed contender must stop the experiment, not become a data point)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), env=bench_env(env), cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    poller = _RssPoller(proc.pid)
    poller.start()
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        _, err = proc.communicate()
        err += f"\n(timed out after {timeout_s:.0f} s)".encode()
        proc.returncode = proc.returncode or -9
    finally:
        poller.stop()
    out = Outcome(time.perf_counter() - start, proc.returncode, poller.peak_mb,
                  err.decode(errors="replace"))
    if check and not out.ok:
        tail = "\n".join(out.stderr.strip().splitlines()[-8:])
        hook = (env or {}).get("WORDCOUNT_CRASH_HOOK", "none")
        raise BenchError(f"{' '.join(cmd[:6])} ... (crash hook {hook}) exited {out.returncode}:"
                         f"\n{tail}")
    return out


def failure(out: Outcome) -> str | None:
    """Why a run failed, in one line (its last ``error:`` line or the exit status)."""
    if out.ok:
        return None
    lines = out.stderr.splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith(("error:", "("))]
    if not marks:
        return f"exit status {out.returncode}"
    first = marks[-1]
    detail = [line.strip() for line in lines[first + 1 : first + 2] if line.startswith(" ")]
    return " ".join([lines[first], *detail])[:160]


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """Kill a timed-out contender and everything it started (workers, its Redis)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for p in children:
        with _quiet():
            p.kill()
    proc.kill()


def _quiet() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(psutil.Error)


class _RssPoller(threading.Thread):
    """Samples the resident memory of a process' ``worker`` children every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        workers: dict[int, psutil.Process] = {}
        while not self._done.wait(POLL_S):
            with _quiet():
                for child in root.children(recursive=True):
                    if child.pid not in workers and _is_worker(child):
                        workers[child.pid] = child
            for proc in list(workers.values()):
                try:
                    self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 1e6)
                except psutil.Error:
                    workers.pop(proc.pid, None)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _is_worker(proc: psutil.Process) -> bool:
    with _quiet():
        cmdline = proc.cmdline()
        return "worker" in cmdline and "engine" in cmdline
    return False


def wordcount(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", *args]


@functools.cache
def run_options() -> frozenset[str]:
    """The options ``wordcount run`` has, read from its help (for ``--chunk-size``)."""
    out = subprocess.run(
        wordcount("run", "--help"), env=bench_env(), cwd=REPO, capture_output=True, text=True,
        check=True,
    ).stdout
    return frozenset(word.strip(",[]") for word in out.split() if word.startswith("--"))


def chunk_args(size: str) -> list[str]:
    """``--chunk-size SIZE`` if this engine splits large files, else nothing."""
    return ["--chunk-size", size] if "--chunk-size" in run_options() else []


def run_engine(
    inputs: Sequence[Path | str],
    workers: int = 2,
    *,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout_s: float,
    check: bool = True,
    at_least: int = 1,
) -> Outcome:
    """``wordcount run`` on an embedded Redis unless ``env`` names one; a fault-free run
    (no ``env``) may be a reused earlier run of the same command (see :func:`measured`)."""
    cmd = wordcount("run", *map(str, inputs), "--workers", str(workers), "--no-progress",
                    "--top", "1", *extra)
    if env is None and check:
        return measured(cmd, timeout_s=timeout_s, at_least=at_least)
    return timed(cmd, env=env, timeout_s=timeout_s, check=check)


def run_serial(inputs: Sequence[Path | str], *, timeout_s: float, at_least: int = 1) -> Outcome:
    """``wordcount serial``: the pure-Python reference count, one core, no Redis."""
    cmd = wordcount("serial", *map(str, inputs), "--top", "1")
    return measured(cmd, timeout_s=timeout_s, at_least=at_least)


def best_of(rounds: int, contenders: Mapping[str, Callable[[int], Outcome]]) -> dict[str, Outcome]:
    """Each contender's fastest run over ``rounds`` rounds, run in turn within each round,
    so that a burst of load from elsewhere on the machine hits them alike. A contender is
    called with the round number, which it passes on as ``at_least`` if it can reuse runs."""
    # a failed round is reported, not hidden by a faster one
    best: dict[str, Outcome] = {}
    for round_no in range(1, max(1, rounds) + 1):
        for name, thunk in contenders.items():
            out = thunk(round_no)
            if name not in best or (best[name].ok and (not out.ok or out < best[name])):
                best[name] = out
    return best


_DONE: dict[tuple[str, ...], list[Outcome]] = {}


def measured(cmd: Sequence[str], *, timeout_s: float, at_least: int = 1) -> Outcome:
    """The fastest of at least ``at_least`` runs of a fault-free command, reusing the runs
    of the same command earlier in this invocation (experiments share their baselines)."""
    runs = _DONE.setdefault(tuple(cmd), [])
    while len(runs) < at_least:
        runs.append(timed(cmd, timeout_s=timeout_s))
    return min(runs, key=lambda out: out.seconds)
