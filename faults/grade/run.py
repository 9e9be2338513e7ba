"""One graded run: fresh copy, fresh Redis, the command under faults, the counts read back.

The run ends when the command exits 0, exits otherwise (a client killed by a fault is
started once more, as the labs ask: running the client again must finish the job), or
when the time bound passes: ``exit_within_s`` after the start or after the last fault's
effect ended, whichever is later. Whatever happens, every process of the submission is
killed and the run's Redis, namespace and folder are removed.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import redis

from engine.nodes.common import free_port, new_password
from faults.controller import Controller
from faults.grade import netns, workspace
from faults.grade.options import GradeError, GradeOptions, render
from faults.grade.points import Fired, PointNemesis
from faults.grade.procs import ProcessTree
from faults.grade.reference import per_file
from faults.grade.sampler import Sampler
from faults.grade.schedule import Example
from faults.grade.server import GradeRedis
from faults.grade.shim import ENV
from faults.history import History
from faults.nemesis import Nemesis


@dataclasses.dataclass
class RunResult:
    """What a run did, for the judge and the report."""

    example: Example
    exit_code: int | None
    """The last command's exit status; None when it did not exit in time."""
    counts: Counter[str] | None
    """The sorted set at the counts key (None: not a sorted set)."""
    files: list[Path]
    per_file: list[Counter[str]]
    """The serial count of each input file."""
    fired: list[Fired]
    history: History
    duration_s: float
    output: str
    """The end of the command's stdout and stderr."""
    restarts: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    other_keys: list[str] = dataclasses.field(default_factory=list)
    alive: list[str] = dataclasses.field(default_factory=list)
    """Processes still running when the run ended (a hang's culprits)."""
    commands: int = 0
    """Commands the submission sent to Redis, as Redis counted them (any client)."""
    auth_errors: int = 0
    """NOAUTH and WRONGPASS replies Redis gave."""
    atomicity: list[str] = dataclasses.field(default_factory=list)
    """What the atomicity sampler saw wrong (with ``--stream`` and ``--group``)."""


def run_example(submission: Path, options: GradeOptions, example: Example) -> RunResult:
    run_dir = Path(tempfile.mkdtemp(prefix="wcg-"))
    ns = netns.NetNs() if _wants_netns(options) else None
    try:
        if ns is not None:
            ns.create()
        return _run(submission, options, example, run_dir, ns)
    finally:
        if ns is not None:
            ns.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _wants_netns(options: GradeOptions) -> bool:
    if options.isolate == "netns":
        return True
    return options.isolate == "auto" and options.redis_port is not None and netns.available()


def _run(
    submission: Path, options: GradeOptions, example: Example, run_dir: Path, ns: netns.NetNs | None
) -> RunResult:
    prefix = ns.prefix() if ns is not None else []
    port = options.redis_port or free_port()
    if ns is None and options.redis_port is not None and free_port_taken(port):
        raise GradeError(
            f"port {port} is taken on this machine and there is no network "
            "namespace (run as root, or let the grader pick a port)"
        )
    server = GradeRedis(
        run_dir, port, options.redis_password or new_password(), prefix, options.load_function
    )
    history = History()
    nemesis = PointNemesis(example, server, history)
    controller = Controller(run_dir / "ctl.sock", cast(Nemesis, nemesis))
    trees: list[ProcessTree] = []
    try:
        server.start()
        controller.start()
        files = workspace.write_inputs(run_dir, example.files, options.input)
        expected = per_file(files, options)
        argv, work, env = _prepare(submission, options, example, run_dir, server, prefix)
        before, _ = server.traffic()
        sampler = _sampler(options, server, files, expected)
        try:
            code, restarts = _drive(argv, work, env, run_dir, nemesis, trees, options)
        finally:
            if sampler is not None:
                sampler.stop()
        after, auth_errors = server.traffic()
        counts, others = _read_counts(server, options.counts_key) if code == 0 else (None, [])
        output = _tail(run_dir / "out.log")
        alive = sorted({nemesis.name_of(pid) for tree in trees for pid in tree.poll()})
        return RunResult(
            example,
            code,
            counts,
            files,
            expected,
            list(nemesis.fired),
            history,
            history.now(),
            output,
            restarts,
            list(nemesis.errors),
            others,
            alive,
            max(0, after - before - 2),  # the second call's AUTH and the first's INFO
            auth_errors,
            list(sampler.violations) if sampler is not None else [],
        )
    finally:
        for tree in trees:
            tree.kill_all()
        controller.stop()
        server.close()


def _sampler(
    options: GradeOptions, server: GradeRedis, files: list[Path], expected: list[Counter[str]]
) -> Sampler | None:
    if not (options.stream and options.group):
        return None
    sampler = Sampler(server, options.stream, options.group, options.counts_key, files, expected)
    sampler.start()
    return sampler


def _prepare(
    submission: Path,
    options: GradeOptions,
    example: Example,
    run_dir: Path,
    server: GradeRedis,
    prefix: list[str],
) -> tuple[list[str], Path, dict[str, str]]:
    """The working copy with its rendered files, the command line and its environment."""
    work = workspace.copy_submission(submission, run_dir)
    values = _values(options, server, run_dir, example)
    workspace.render_configs(work, options, values)
    env = _environment(options, submission, run_dir, values)
    return [*prefix, *shlex.split(render(options.cmd, values, "--cmd"))], work, env


def free_port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _values(
    options: GradeOptions, server: GradeRedis, run_dir: Path, example: Example
) -> dict[str, str]:
    data = run_dir / "data"
    suffix = "csv" if options.input == "csv" else "txt"
    return {
        "redis_host": "localhost" if options.redis_port else "127.0.0.1",
        "redis_port": str(server.port),
        "redis_password": server.password,
        "redis_url": f"redis://:{server.password}@127.0.0.1:{server.port}/0",
        "data_dir": str(data),
        "data_glob": str(data / f"*.{suffix}"),
        "workers": str(example.workers),
        "claim_timeout_ms": str(options.claim_timeout_ms),
    }


def _environment(
    options: GradeOptions, submission: Path, run_dir: Path, values: dict[str, str]
) -> dict[str, str]:
    python = workspace.interpreter(submission, options)
    env = dict(os.environ)
    bins = [str(workspace.bin_dir(run_dir, python)), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*bins, env.get("PATH", "")])
    shim_dir = str(workspace.install_shim(run_dir))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (shim_dir, env.get("PYTHONPATH")) if p)
    env[ENV] = str(run_dir / "ctl.sock")
    env.pop("VIRTUAL_ENV", None)
    for name, template in options.env:
        env[name] = render(template, values, f"--env {name}")
    return env


def _drive(
    argv: list[str],
    work: Path,
    env: dict[str, str],
    run_dir: Path,
    nemesis: PointNemesis,
    trees: list[ProcessTree],
    options: GradeOptions,
) -> tuple[int | None, int]:
    """Run the command (again once if a fault killed it) until it exits or time is up."""
    restarts = 0
    start = time.monotonic()
    with open(run_dir / "out.log", "ab") as out:
        while True:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=work,
                    env=env,
                    stdout=out,
                    stderr=out,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                raise GradeError(
                    f"cannot start {argv[0]!r}: {exc.strerror or exc} (check --cmd)"
                ) from None
            nemesis.roots.add(proc.pid)
            trees.append(ProcessTree(proc))
            code = _wait(proc, trees, nemesis, start, options.exit_within_s)
            if code is None or code == 0 or not nemesis.crashed_client or restarts:
                return code, restarts
            restarts += 1
            nemesis.crashed_client = False


def _wait(
    proc: subprocess.Popen[bytes],
    trees: list[ProcessTree],
    nemesis: PointNemesis,
    start: float,
    bound_s: float,
) -> int | None:
    while True:
        code = proc.poll()
        now = time.monotonic()
        if code is not None:
            while nemesis.last_fault_end > time.monotonic():  # a pause or stall still on
                time.sleep(0.05)
            return code
        if now > max(start, nemesis.last_fault_end) + bound_s:
            return None
        for tree in trees:
            tree.poll()
        nemesis.timed(now - start, [pid for tree in trees for pid in tree.children])
        time.sleep(0.05)


def _read_counts(server: GradeRedis, key: str) -> tuple[Counter[str] | None, list[str]]:
    """The sorted set at ``key`` (None if there is none), and the other sorted sets."""
    client = server.client(timeout_s=10)
    try:
        kind = _text(client.type(key))
        others = sorted(_text(k) for k in client.scan_iter(_type="zset"))
        if kind not in ("zset", "none"):
            return None, others
        pairs: list[Any] = list(client.zrange(key, 0, -1, withscores=True))
    except redis.RedisError as exc:
        raise GradeError(f"cannot read the counts from the grader's Redis: {exc}") from None
    counts: Counter[str] = Counter()
    for word, score in pairs:
        counts[bytes(word).decode("utf-8", "surrogateescape")] = int(score)
    return counts, [k for k in others if k != key]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
