"""The fixed cost of a tiny job (issue 14's target: under 0.5 s), as a user meets it.

``wordcount run`` of a 1 kB file with default settings (embedded Redis, two workers forked
from the driver, bytecode compiled as an installed package has it; the first run writes
it and is not counted), beside the floor under any Python program that talks to Redis
through redis-py: an interpreter that imports it and exits. The machine is shared, so the
table gives the median and the fastest of several interleaved rounds, the CPU time of
each command with everything it started, and the load average.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

from benchmarks.context import Context, Result
from benchmarks.corpus import big_file, scratch
from benchmarks.exp_scaling import main_corpus
from benchmarks.report import Table
from benchmarks.runs import timed, wordcount

DEFAULTS = {"WORDCOUNT_WORKER_START": "fork", "PYTHONDONTWRITEBYTECODE": ""}
"""What a user's environment has: workers forked (the benchmarks exec them elsewhere, to
find them by command line) and bytecode written."""
TINY = "wordcount run tiny -w 2"
CONTENDERS = ("python -c pass", "python -c 'import redis'", TINY)


def tiny_job(ctx: Context) -> Result:
    """Wall and CPU seconds of a tiny job, beside an interpreter start and redis-py's import."""
    from benchmarks.exp_mapreduce import load

    rounds = 5 if ctx.scale.name == "small" else 9
    table = Table("tiny_job", ["command", "median_s", "fastest_s", "cpu_s"])
    table.notes.append(f"before: {load()}")
    with scratch("tiny") as where:
        path = big_file(main_corpus(ctx), where / "tiny.txt", 1000)
        commands = {
            CONTENDERS[0]: [sys.executable, "-c", "pass"],
            CONTENDERS[1]: [sys.executable, "-c", "import redis"],
            TINY: wordcount("run", str(path), "--workers", "2", "--no-progress", "--top", "1"),
        }
        for cmd in commands.values():  # warm-up: bytecode written, files in the page cache
            timed(cmd, env=DEFAULTS, timeout_s=ctx.scale.timeout_s)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, cmd in commands.items():
                wall, cpu = _measure(cmd, ctx.scale.timeout_s)
                walls[name].append(wall)
                cpus[name].append(cpu)
    for name in commands:
        table.add(command=name, median_s=statistics.median(walls[name]),
                  fastest_s=min(walls[name]), cpu_s=statistics.median(cpus[name]))
    table.notes.append(f"after: {load()}; {rounds} interleaved rounds; cpu_s: median user+sys "
                       "of the command and every process it started")
    return Result(table)


def _measure(cmd: list[str], timeout_s: float) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the command and its waited-for descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    timed(cmd, env=DEFAULTS, timeout_s=timeout_s)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tiny_checks(ctx: Context) -> tuple[str, float, str, float]:
    """The target row for ``ratios``: the median wall time of the tiny job."""
    value = ctx.get("tiny_job").table.column("median_s", command=TINY)[0]
    return "tiny job wall time, run -w 2, median (s)", float(value), "<=", 0.5  # type: ignore[arg-type]
