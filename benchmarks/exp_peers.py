"""The engine beside its peers on the same input and the same two cores: the serial
reference, ``multiprocessing.Pool`` with the engine's own counter and no coordination, and
a Dask bag (see :mod:`benchmarks.peers`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.context import Context, Result
from benchmarks.corpus import gutenberg_base, total_size, zipf_base
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import Outcome, best_of, run_engine, run_serial, timed

CONTENDERS = ("wordcount serial", "wordcount run -w 2", "multiprocessing.Pool(2)", "dask bag (2)")


def _contenders(ctx: Context, files: list[Path]) -> dict[str, Callable[[int], Outcome]]:
    t = ctx.scale.timeout_s

    def peer(name: str) -> Callable[[int], Outcome]:
        cmd = [sys.executable, "-m", "benchmarks.peers", name, *map(str, files), "--processes",
               "2"]
        return lambda n: timed(cmd, timeout_s=t)

    return dict(zip(CONTENDERS, (
        lambda n: run_serial(files, timeout_s=t, at_least=n),
        lambda n: run_engine(files, 2, timeout_s=t, at_least=n),
        peer("mp"),
        peer("dask"),
    ), strict=True))


def peers(ctx: Context) -> Result:
    """serial, run -w 2, multiprocessing.Pool(2) and a Dask bag, side by side."""
    s = ctx.scale
    table = Table("peers", ["corpus", "contender", "seconds", "mb_per_s", "vs_engine"])
    for corpus in s.peer_corpora:
        base = zipf_base if corpus == "zipf" else gutenberg_base
        files = base(s.total_bytes, s.n_files)
        mb = total_size(files) / 1e6
        best = best_of(s.repeat, _contenders(ctx, files))
        engine = best["wordcount run -w 2"].seconds
        for name, out in best.items():
            table.add(corpus=corpus, contender=name, seconds=out.seconds,
                      mb_per_s=mb / out.seconds, vs_engine=out.seconds / engine)
    table.notes.append(f"{s.total_bytes / 1e6:.0f} MB in {s.n_files} files; fastest of "
                       f"{s.repeat} interleaved run(s); vs_engine > 1 means slower than the engine")
    series = [Series(c, [], [float(v) for v in table.column("seconds", corpus=c)])  # type: ignore[arg-type]
              for c in s.peer_corpora]
    return Result(table, Plot("The engine and its peers (2 cores)", "", "wall time (s)",
                              series, categories=list(CONTENDERS)))
