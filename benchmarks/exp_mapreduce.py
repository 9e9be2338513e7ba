"""The MapReduce mode (issue 14): both modes beside the peers a user would write, Redis
CPU per distinct word, and throughput against vocabulary size.

Every contender is a fresh process timed from outside (:mod:`benchmarks.runs`); side by
side means run in turn within each round, fastest of ``scale.repeat`` rounds. The load
average is printed with each table, since the machine may be shared.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.context import Context, Result
from benchmarks.corpus import gutenberg_base, total_size
from benchmarks.fixed_cost import tiny_checks
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


NESTED = ("cmdstat_zadd", "cmdstat_zincrby")
"""Commands the engine only calls inside its functions: their time is part of FCALL's."""


def redis_cpu(ctx: Context) -> Result:
    """Redis CPU per job (INFO commandstats) per distinct word, both modes."""
    s = ctx.scale
    table = Table("redis_cpu", ["corpus", "mode", "distinct", "calls", "redis_cpu_s",
                                "us_per_word", "process_cpu_s"])  # fmt: skip
    for corpus, files in _corpora(ctx).items():
        for mode in ("stream", "mapreduce"):
            with redis_node() as node:
                client = node.client(socket_timeout=30)
                client.config_resetstat()
                cpu = _cpu(client)
                job, args = job_args()
                run_engine(files, 2, extra=["--mode", mode, *args], env=node_env(node),
                           timeout_s=s.timeout_s)  # fmt: skip
                stats = {k: v for k, v in client.info("commandstats").items() if k not in NESTED}
                cpu = _cpu(client) - cpu
                usec = sum(int(v["usec"]) for v in stats.values())
                distinct = int(client.zcard(f"wc:{{{job}}}:counts"))
                client.close()
            table.add(corpus=corpus, mode=mode, distinct=distinct,
                      calls=sum(int(v["calls"]) for v in stats.values()),
                      redis_cpu_s=usec / 1e6, us_per_word=usec / max(distinct, 1),
                      process_cpu_s=cpu)  # fmt: skip
    table.notes.append("redis_cpu_s: INFO commandstats usec of the top-level commands (FCALL "
                       "includes the ZADD/ZINCRBY it makes); process_cpu_s: the server's "
                       f"user+sys CPU over the run, networking included; {load()}")
    return Result(table)


def _cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


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


def mapreduce_checks(ctx: Context) -> Iterator[tuple[str, float | str, str, float]]:
    """Issue 14's targets, for ``python -m benchmarks ratios``: the default run against
    each peer, Redis microseconds per distinct word, and a tiny job's wall time."""
    table = ctx.get("mr_peers").table
    for corpus in dict.fromkeys(str(c) for c in table.column("corpus")):
        default = _seconds(table, corpus, DEFAULT)
        for peer, want in ((POOL_BYTES, 0.9), (POOL_ARROW, 0.9), (NAIVE, 1.6)):
            yield (f"run -w 2 speed vs {peer} [{corpus}]",
                   _seconds(table, corpus, peer) / default, ">=", want)  # fmt: skip
    for row in ctx.get("redis_cpu").table.rows:
        if row["mode"] != "mapreduce":
            continue  # the stream mode's figure is in the redis_cpu table, for comparison
        yield (f"Redis us per distinct word, {row['mode']} [{row['corpus']}]",
               float(row["us_per_word"]), "<=", 5.0)  # type: ignore[arg-type]
    yield tiny_checks(ctx)


def _seconds(table: Table, corpus: str, contender: str) -> float:
    values = table.column("seconds", corpus=corpus, contender=contender)
    return float(values[0])  # type: ignore[arg-type]
