"""The MapReduce mode (issue 14): both modes beside the peers a user would write, Redis
CPU per distinct word, and throughput against vocabulary size.

Every contender is a fresh process timed from outside (:mod:`benchmarks.runs`); side by
side means run in turn within each round, fastest of ``scale.repeat`` rounds. The load
average is printed with each table, since the machine may be shared.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.context import Context, Result
from benchmarks.corpus import gutenberg_base, total_size
from benchmarks.nodes import job_args, node_env, redis_node
from benchmarks.report import Plot, Series, Table
from benchmarks.runs import Outcome, best_of, run_engine, timed
from benchmarks.vocab import zipf_vocab

DEFAULT = "wordcount run -w 2"
STREAM = "run -w 2 --mode stream"
MAPREDUCE = "run -w 2 --mode mapreduce"
NAIVE = "Counter(text.split()), 1 core"
POOL_BYTES = "Pool(2), Counter(bytes.split())"
POOL_ARROW = "Pool(2), pyarrow value_counts"
PEERS = (NAIVE, POOL_BYTES, POOL_ARROW)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def _corpora(ctx: Context) -> dict[str, list[Path]]:
    s = ctx.scale
    distinct = 200_000 if s.name == "full" else 20_000
    return {f"zipf-{distinct // 1000}k": zipf_vocab(s.total_bytes, s.n_files, distinct),
            "gutenberg": gutenberg_base(s.total_bytes, s.n_files)}  # fmt: skip


def _contenders(
    files: list[Path], timeout_s: float, names: tuple[str, ...]
) -> dict[str, Callable[[int], Outcome]]:
    def peer(name: str) -> Callable[[int], Outcome]:
        cmd = [sys.executable, "-m", "benchmarks.mr_peers", name, *map(str, files)]
        return lambda n: timed(cmd, timeout_s=timeout_s)

    def mode(m: str) -> Callable[[int], Outcome]:
        return lambda n: run_engine(files, 2, extra=["--mode", m], timeout_s=timeout_s,
                                    at_least=n)  # fmt: skip

    every = {
        DEFAULT: lambda n: run_engine(files, 2, timeout_s=timeout_s, at_least=n),
        STREAM: mode("stream"),
        MAPREDUCE: mode("mapreduce"),
        NAIVE: peer("naive"),
        POOL_BYTES: peer("mp-bytes"),
        POOL_ARROW: peer("mp-arrow"),
    }
    return {name: every[name] for name in names}


def mr_peers(ctx: Context) -> Result:
    """run -w 2 (default, stream, mapreduce) beside the issue's peers, side by side."""
    s = ctx.scale
    table = Table("mr_peers", ["corpus", "contender", "seconds", "mb_per_s", "vs_default"])
    table.notes.append(f"before: {load()}")
    names = (DEFAULT, STREAM, MAPREDUCE, *PEERS)
    for corpus, files in _corpora(ctx).items():
        mb = total_size(files) / 1e6
        best = best_of(s.repeat, _contenders(files, s.timeout_s, names))
        default = best[DEFAULT].seconds
        for name, out in best.items():
            table.add(corpus=corpus, contender=name, seconds=out.seconds,
                      mb_per_s=mb / out.seconds, vs_default=default / out.seconds)
    table.notes.append(f"after: {load()}")
    table.notes.append(f"{s.total_bytes / 1e6:.0f} MB in {s.n_files} files; fastest of "
                       f"{s.repeat} interleaved round(s); vs_default < 1: slower than the "
                       "default run")  # fmt: skip
    return Result(table)


def redis_cpu(ctx: Context) -> Result:
    """Redis CPU per job (INFO commandstats) per distinct word, both modes."""
    s = ctx.scale
    table = Table("redis_cpu", ["corpus", "mode", "distinct", "calls", "redis_cpu_s",
                                "us_per_word"])  # fmt: skip
    for corpus, files in _corpora(ctx).items():
        for mode in ("stream", "mapreduce"):
            with redis_node() as node:
                client = node.client(socket_timeout=30)
                client.config_resetstat()
                job, args = job_args()
                run_engine(files, 2, extra=["--mode", mode, *args], env=node_env(node),
                           timeout_s=s.timeout_s)  # fmt: skip
                stats = client.info("commandstats")
                usec = sum(int(v["usec"]) for v in stats.values())
                calls = sum(int(v["calls"]) for v in stats.values())
                distinct = int(client.zcard(f"wc:{{{job}}}:counts"))
                client.close()
            table.add(corpus=corpus, mode=mode, distinct=distinct, calls=calls,
                      redis_cpu_s=usec / 1e6, us_per_word=usec / max(distinct, 1))
    table.notes.append(f"nested calls (ZADD inside FCALL) are counted twice; {load()}")
    return Result(table)


def vocabulary(ctx: Context) -> Result:
    """Throughput against the number of distinct words, both modes and the peers."""
    s = ctx.scale
    sizes = (10_000, 100_000, 500_000, 2_000_000) if s.name == "full" else (1_000, 20_000)
    total, n_files = (100_000_000, 10) if s.name == "full" else (2_000_000, 4)
    names = (STREAM, MAPREDUCE, *PEERS)
    table = Table("vocabulary", ["distinct", "contender", "seconds", "mb_per_s"])
    table.notes.append(f"before: {load()}")
    for distinct in sizes:
        files = zipf_vocab(total, n_files, distinct)
        mb = total_size(files) / 1e6
        best = best_of(1, _contenders(files, s.timeout_s, names))
        for name, out in best.items():
            table.add(distinct=distinct, contender=name, seconds=out.seconds,
                      mb_per_s=mb / out.seconds)
    table.notes.append(f"after: {load()}; {total / 1e6:.0f} MB in {n_files} files; one run each")
    series = [Series(name, [float(d) for d in sizes],
                     [float(v) for v in table.column("mb_per_s", contender=name)])  # type: ignore[arg-type]
              for name in names]  # fmt: skip
    return Result(table, Plot("Throughput against vocabulary size (2 cores)",
                              "distinct words", "MB/s", series, logx=True))
