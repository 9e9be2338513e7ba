"""The issue's targets, each with the ratio measured by the other experiments of this
invocation and PASS or FAIL. Missing a target is reported, never an error: at small scale
fixed costs dominate and most targets are not meaningful."""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.context import Context, Result
from benchmarks.crashpoint_overhead import per_call_ns
from benchmarks.exp_mapreduce import mapreduce_checks
from benchmarks.exp_memory import RSS_LIMIT_MB
from benchmarks.report import Cell, Table
from benchmarks.runs import BenchError
from benchmarks.scale import human
from engine import crashpoints as cp

Check = tuple[str, float | str, str, float]
"""(target, measured or an error message, comparison ``>=`` or ``<=``, threshold)."""
REACH_PER_TASK = 4
"""Crash points per task at most: read or claim, count, and the two of its commit."""


def ratios(ctx: Context) -> Result:
    """Every target of the issue with its measured ratio, PASS or FAIL."""
    table = Table("ratios", ["target", "measured", "want", "verdict"])
    for target, measured, op, threshold in _checks(ctx):
        if isinstance(measured, str):
            table.add(target=target, verdict=f"ERROR: {measured}"[:80])
            continue
        ok = measured >= threshold if op == ">=" else measured <= threshold
        table.add(target=target, measured=measured, want=f"{op} {threshold:g}",
                  verdict="PASS" if ok else "FAIL")
    table.notes.append(f"scale {ctx.scale.name}; every ratio from this invocation's runs "
                       "(see the other tables)")
    return Result(table)


def _checks(ctx: Context) -> Iterator[Check]:
    """Every check; an experiment that failed gives one error row instead of its checks."""
    for group in (_peer_checks, _size_checks, _skew_checks, _straggler_checks,
                  _crashpoint_checks, _memory_checks, _redis_checks, mapreduce_checks):
        try:
            yield from group(ctx)
        except BenchError as exc:
            yield group.__name__.strip("_"), str(exc).splitlines()[0], "", 0.0


def _seconds(table: Table, **where: Cell) -> float:
    values = table.column("seconds", **where)
    if len(values) != 1:
        raise LookupError(f"{table.name}: {len(values)} rows match {where}")
    return float(values[0])  # type: ignore[arg-type]


def _peer_checks(ctx: Context) -> Iterator[Check]:
    table = ctx.get("peers").table
    for corpus in ctx.scale.peer_corpora:
        engine = _seconds(table, corpus=corpus, contender="wordcount run -w 2")
        for contender, label, op, threshold in (
            ("wordcount serial", "serial", ">=", 3.0),
            ("multiprocessing.Pool(2)", "multiprocessing.Pool(2), same counter", ">=", 0.9),
            ("dask bag (2)", "Dask bag (2 processes)", ">=", 2.0),
        ):
            other = _seconds(table, corpus=corpus, contender=contender)
            yield f"run -w 2 speed vs {label} [{corpus}]", other / engine, op, threshold


def _size_checks(ctx: Context) -> Iterator[Check]:
    s = ctx.scale
    sizes = ctx.get("file_size").table
    small = sizes.column("mb_per_s", file_bytes=s.small_files)[0]
    large = sizes.column("mb_per_s", file_bytes=s.large_files)[0]
    n_small = sizes.column("files", file_bytes=s.small_files)[0]
    yield (f"{n_small} files of {human(s.small_files)} vs files of {human(s.large_files)}, "
           "throughput", float(small) / float(large), ">=", 0.5)  # type: ignore[arg-type]


def _skew_checks(ctx: Context) -> Iterator[Check]:
    skew = ctx.get("skew").table
    for row in skew.rows:
        if row["layout"] == "skewed":
            yield (f"skewed / balanced wall time (chunking {row['chunking']})",
                   float(row["vs_balanced"]), "<=", 1.2)  # type: ignore[arg-type]


def _straggler_checks(ctx: Context) -> Iterator[Check]:
    slow = ctx.get("straggler").table
    for row in slow.rows:
        if row["straggler"] == "none":
            continue
        target = f"one worker at half speed / none ({row['workers']} workers)"
        if not row["ok"]:
            yield target, f"run failed: {row['failure']}", "", 0.0
        else:
            yield target, float(row["vs_none"]), "<=", 1.3  # type: ignore[arg-type]


def _crashpoint_checks(ctx: Context) -> Iterator[Check]:
    """Crash points cannot be removed from the engine to time it without them, and their
    cost is far below run-to-run noise; so bound it: calls per run (at most four per task)
    times the cost of one call with no hook, over the run's time, for the file-size run
    with the most tasks per second."""
    cp.install(None)
    calls = 100_000 if ctx.scale.name == "small" else 1_000_000
    ns = per_call_ns("cp.reach(P, consumer='c', entry='1-0', index=0, deliveries=1)",
                     {"cp": cp, "P": cp.WORKER_AFTER_COUNT}, calls)
    rows = ctx.get("file_size").table.rows
    worst = max(float(r["files"]) / float(r["seconds"]) for r in rows)  # type: ignore[arg-type]
    share = (REACH_PER_TASK * worst + 10) * ns / 1e9
    yield f"crash points, no fault plan: overhead % (bound, {ns:.0f} ns/call)", share * 100, \
        "<=", 1.0


def _memory_checks(ctx: Context) -> Iterator[Check]:
    for row in ctx.get("memory").table.rows:
        if row["input"] == "tiny file":
            continue
        yield (f"worker peak RSS MB, {row['input']} of {human(float(row['mb']) * 1e6)}",  # type: ignore[arg-type]
               float(row["worker_peak_rss_mb"]), "<=", RSS_LIMIT_MB)  # type: ignore[arg-type]


def _redis_checks(ctx: Context) -> Iterator[Check]:
    table = ctx.get("redis_memory").table
    books = [r for r in table.rows if r["corpus"] == "gutenberg"]
    grow = float(books[-1]["used_memory_mb"]) / float(books[0]["used_memory_mb"])  # type: ignore[arg-type]
    factor = float(books[-1]["input_mb"]) / float(books[0]["input_mb"])  # type: ignore[arg-type]
    yield (f"Redis memory growth, same words ({books[0]['books']}), {factor:.0f}x the input",
           grow, "<=", 1.25)
    per_word = [float(r["bytes_per_word"]) for r in table.rows]  # type: ignore[arg-type]
    yield "Redis bytes per distinct word, max / min over all runs", \
        max(per_word) / min(per_word), "<=", 1.5
