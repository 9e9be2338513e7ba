"""Commit granularity: one call per word, one atomic commit per task, or per batch.

Many small files make commits frequent, which is where their cost shows. Each run gets its
own Redis so that the number of commands it processed can be read afterwards.
"""

from __future__ import annotations

from benchmarks.context import Context, Result
from benchmarks.corpus import cut, scratch, stream
from benchmarks.exp_scaling import main_corpus
from benchmarks.nodes import commands_processed, job_args, node_env, redis_node
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import run_engine

VARIANTS = {
    "per word": "benchmarks.engines:per_word",
    "per task": "benchmarks.engines:per_task",
    "batched (engine)": "engine.plugins:default",
}


def commits(ctx: Context) -> Result:
    """Per-word calls, per-task commits and batched commits, on many small files."""
    s = ctx.scale
    count, size = s.commit_files
    table = Table("commits", ["commits", "seconds", "redis_commands", "tasks_per_s"])
    with scratch("commits") as where:
        files = cut(stream(main_corpus(ctx)), where, [size] * count)
        for label, spec in VARIANTS.items():
            with redis_node() as node:
                before = commands_processed(node)
                _, job = job_args()
                out = run_engine([where], 2, extra=[*job, "--engine", spec],
                                 env=node_env(node), timeout_s=s.timeout_s)
                calls = commands_processed(node) - before
            table.add(commits=label, seconds=out.seconds, redis_commands=calls,
                      tasks_per_s=len(files) / out.seconds)
    table.notes.append(f"{len(files)} files of {size / 1000:.0f} kB, 2 workers; "
                       "redis_commands counts those run inside Redis Functions too, so "
                       "per word and per task differ in round trips, not in Redis work")
    return Result(table, Plot(
        "Commit granularity", "", "wall time (s)",
        [Series("wordcount run -w 2", [], [float(v) for v in table.column("seconds")])],  # type: ignore[arg-type]
        categories=list(VARIANTS)))
