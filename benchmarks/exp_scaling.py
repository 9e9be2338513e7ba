"""Efficiency and load balance without faults: workers, input size, file size, skew and
a straggler.

Efficiency is ``T_serial / (p * T_parallel)`` with ``T_serial`` the time of ``wordcount
serial`` (the pure-Python reference) on the same input; the engine's own one-worker time
gives a second baseline that leaves out the difference between the two counters.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks import hooks
from benchmarks.context import Context, Result
from benchmarks.corpus import cut, scratch, stream, total_size, zipf_base
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import Outcome, best_of, chunk_args, failure, run_engine, run_serial


def main_corpus(ctx: Context) -> list[Path]:
    return zipf_base(ctx.scale.total_bytes, ctx.scale.n_files)


def workers(ctx: Context) -> Result:
    """Efficiency against the number of workers, at the full input."""
    s = ctx.scale
    files = main_corpus(ctx)
    t_serial = run_serial(files, timeout_s=s.timeout_s).seconds
    table = Table("workers", ["workers", "seconds", "speedup_vs_serial", "efficiency",
                              "efficiency_vs_1_worker"])
    t_one = None
    for p in s.workers:
        t = run_engine(files, p, timeout_s=s.timeout_s).seconds
        t_one = t if p == 1 else t_one
        table.add(workers=p, seconds=t, speedup_vs_serial=t_serial / t,
                  efficiency=t_serial / (p * t),
                  efficiency_vs_1_worker=None if t_one is None else t_one / (p * t))
    table.notes.append(f"{total_size(files) / 1e6:.0f} MB in {len(files)} files; "
                       f"wordcount serial: {t_serial:.2f} s")
    ws = [float(p) for p in s.workers]
    return Result(table, Plot(
        "Efficiency against workers", "workers", "T_serial / (p * T_p)",
        [Series("vs wordcount serial", ws, _floats(table, "efficiency")),
         Series("vs run --workers 1", ws, _floats(table, "efficiency_vs_1_worker"))],
        hline=1.0, hline_label="ideal"))


def input_size(ctx: Context) -> Result:
    """Efficiency against input size at two workers: fixed costs fade as input grows."""
    s = ctx.scale
    files = main_corpus(ctx)
    table = Table("input_size", ["mb", "files", "serial_s", "run_s", "speedup", "efficiency"])
    for fraction in s.input_fractions:
        part = files[: max(1, round(fraction * len(files)))]
        t_serial = run_serial(part, timeout_s=s.timeout_s).seconds
        t = run_engine(part, 2, timeout_s=s.timeout_s).seconds
        table.add(mb=total_size(part) / 1e6, files=len(part), serial_s=t_serial, run_s=t,
                  speedup=t_serial / t, efficiency=t_serial / (2 * t))
    mbs = _floats(table, "mb")
    return Result(table, Plot(
        "Efficiency against input size (2 workers)", "input (MB)", "T_serial / (2 * T_2)",
        [Series("efficiency", mbs, _floats(table, "efficiency"))], logx=True,
        hline=1.0, hline_label="ideal"))


def file_size(ctx: Context) -> Result:
    """Throughput against file size at the same total: per-task costs against per-byte."""
    s = ctx.scale
    table = Table("file_size", ["file_bytes", "files", "mb", "seconds", "mb_per_s"])
    for size in s.file_sizes:
        count = min(s.max_files, s.total_bytes // size)
        with scratch("filesize") as where:
            files = cut(stream(main_corpus(ctx)), where, [size] * count)
            out = best_of(_rounds(ctx, size), {"run": _runner(ctx, [where])})["run"]
            mb = total_size(files) / 1e6
        table.add(file_bytes=size, files=len(files), mb=mb, seconds=out.seconds,
                  mb_per_s=mb / out.seconds)
    table.notes.append(f"at most {s.max_files} files per point, so small sizes count less")
    return Result(table, Plot(
        "Throughput against file size (2 workers)", "bytes per file", "MB/s",
        [Series("wordcount run -w 2", _floats(table, "file_bytes"), _floats(table, "mb_per_s"))],
        logx=True))


def _rounds(ctx: Context, size: int) -> int:
    """Repeat only the two sizes a ratio target compares."""
    return ctx.scale.repeat if size in (ctx.scale.small_files, ctx.scale.large_files) else 1


def _runner(ctx: Context, inputs: list[Path], workers: int = 2, *,
            extra: list[str] | None = None, hook: str | None = None) -> Callable[[int], Outcome]:
    """A contender for :func:`best_of`: a fault-free run (reusable), or one with a hook."""

    def run(at_least: int) -> Outcome:
        if hook is None:
            return run_engine(inputs, workers, extra=extra or [], timeout_s=ctx.scale.timeout_s,
                              at_least=at_least)
        return with_tokens(lambda env: run_engine(inputs, workers, extra=extra or [], env=env,
                                                  timeout_s=ctx.scale.timeout_s, check=False),
                           hook)

    return run


def skew(ctx: Context) -> Result:
    """One file ten times the others, against equal files of the same total.

    The big file is last in task order, the worst case: every other worker is idle while
    one counts it, unless the engine splits it (``--chunk-size``, when the engine has it).
    """
    s = ctx.scale
    n = s.n_files
    unit = s.total_bytes // (n + 9)
    table = Table("skew", ["layout", "chunking", "seconds", "vs_balanced"])
    with scratch("skew") as where:
        sizes = {"balanced": [unit * (n + 9) // n] * n, "skewed": [unit] * (n - 1) + [10 * unit]}
        layouts = {k: cut(stream(main_corpus(ctx)), where / k, v) for k, v in sizes.items()}
        for chunk in _chunkings(ctx):
            args = chunk_args("0" if chunk == "off" else chunk)
            best = best_of(s.repeat, {k: _runner(ctx, [where / k], extra=args) for k in layouts})
            for k in layouts:
                table.add(layout=k, chunking=chunk, seconds=best[k].seconds,
                          vs_balanced=best[k].seconds / best["balanced"].seconds)
    table.notes.append(f"{n} files, {s.total_bytes / 1e6:.0f} MB; the big file is last")
    return Result(table, _bar_plot(table, "layout", "chunking", "Skewed input (2 workers)"))


def _chunkings(ctx: Context) -> list[str]:
    """Without and with splitting (``--chunk-size 0`` is off: the engine splits by default);
    at small scale only with, if the engine can split."""
    chunk = [ctx.scale.chunk_size] if chunk_args(ctx.scale.chunk_size) else []
    return ["off", *chunk] if ctx.scale.name != "small" or not chunk else chunk


def straggler(ctx: Context) -> Result:
    """One worker at half speed (benchmarks.hooks.slow_one) against none."""
    s = ctx.scale
    files = main_corpus(ctx)
    table = Table("straggler", ["workers", "straggler", "seconds", "ok", "vs_none",
                                "failure"])
    for p in s.straggler_workers:
        best = best_of(s.repeat, {
            "none": _runner(ctx, files, p),
            "half speed": _runner(ctx, files, p, hook="benchmarks.hooks:slow_one"),
        })
        for k, out in best.items():
            table.add(workers=p, straggler=k, seconds=out.seconds, ok=out.ok,
                      vs_none=out.seconds / best["none"].seconds, failure=failure(out))
    table.notes.append("with p workers and one at half speed, throughput is at best "
                       "(p - 0.5) / p of normal: 1.33x the time for p = 2, 1.14x for p = 4")
    return Result(table, _bar_plot(table, "straggler", "workers", "One worker at half speed"))


def with_tokens(run: Callable[[dict[str, str]], Outcome], hook: str,
                 extra_env: dict[str, str] | None = None) -> Outcome:
    """Run with a crash hook and a fresh token directory (see benchmarks.hooks)."""
    with tempfile.TemporaryDirectory(prefix="wc-bench-tokens-") as tokens:
        env = {"WORDCOUNT_CRASH_HOOK": hook, hooks.DIR_ENV: tokens, **(extra_env or {})}
        return run(env)


def _bar_plot(table: Table, category: str, group: str, title: str) -> Plot:
    cats = list(dict.fromkeys(str(v) for v in table.column(category)))
    groups = list(dict.fromkeys(table.column(group)))
    series = [Series(f"{group} {g}", [], [float(v) for v in  # type: ignore[arg-type]
                                          table.column("seconds", **{group: g})])
              for g in groups]
    return Plot(title, category, "wall time (s)", series, categories=cats)


def _floats(table: Table, column: str) -> list[float]:
    return [float(v) for v in table.column(column)]  # type: ignore[arg-type]
