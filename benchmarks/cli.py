"""``python -m benchmarks EXPERIMENT [--scale small|full] [--out DIR]``.

``all`` runs every experiment then the ratios; ``list`` names them. An experiment that
crashes (a contender failing without a fault, a missing tool) is reported, the others
still run, and the exit status is 1; a missed ratio target does not change it.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import (
    exp_commits,
    exp_faults,
    exp_mapreduce,
    exp_memory,
    exp_peers,
    exp_replication,
    exp_scaling,
    fixed_cost,
    ratios,
)
from benchmarks.context import Context, Experiment
from benchmarks.scale import SCALES

EXPERIMENTS: dict[str, Experiment] = {
    "workers": exp_scaling.workers,
    "input_size": exp_scaling.input_size,
    "file_size": exp_scaling.file_size,
    "skew": exp_scaling.skew,
    "straggler": exp_scaling.straggler,
    "claim_timeout": exp_faults.claim_timeout,
    "persistence": exp_faults.persistence,
    "redis_kills": exp_faults.redis_kills,
    "commits": exp_commits.commits,
    "peers": exp_peers.peers,
    "memory": exp_memory.worker_memory,
    "redis_memory": exp_memory.redis_memory,
    "mr_peers": exp_mapreduce.mr_peers,
    "redis_cpu": exp_mapreduce.redis_cpu,
    "vocabulary": exp_mapreduce.vocabulary,
    "tiny_job": fixed_cost.tiny_job,
    "ratios": ratios.ratios,
    "replication": exp_replication.replication,
    "replication_faults": exp_replication.replication_faults,
    "replication_latency": exp_replication.replication_latency,
}
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("experiment", help="an experiment name, 'all' or 'list'")
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where CSV and PNG go")
    args = parser.parse_args(argv)
    name = args.experiment.replace("-", "_")
    if name == "list":
        for key, func in EXPERIMENTS.items():
            print(f"{key:<14} {(func.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if name != "all" and name not in EXPERIMENTS:
        parser.error(f"unknown experiment {args.experiment!r}: try 'list'")
    ctx = Context(SCALES[args.scale], args.out, EXPERIMENTS)
    start = time.perf_counter()
    for key in EXPERIMENTS if name == "all" else [name]:
        with contextlib.suppress(Exception):  # reported by ctx.get; go on with the others
            ctx.get(key)
    ctx.log(f"done in {time.perf_counter() - start:.1f} s; results in {args.out}")
    if ctx.errors:
        print(f"benchmark failed: {', '.join(ctx.errors)}")
        return 1
    return 0
