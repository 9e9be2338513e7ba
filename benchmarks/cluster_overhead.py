"""What a Redis Cluster costs one job: the same job on one Redis and on a local cluster.

    python -m benchmarks.cluster_overhead [--inputs DIR] [--pairs 5] [--workers 2]

Starts one local ``redis-server`` and a local cluster of three primaries with a replica
each (:class:`engine.nodes.cluster.LocalCluster`), then runs ``wordcount run`` on the same
inputs in interleaved pairs, one Redis then the cluster, so that the machine's load
weighs on both alike. Prints each pair's wall times and ratio, the median ratio and the
load average. One job lives in one slot, so on one machine the cluster can only cost:
the figure is the price of the cluster client (slot routing, replication to a replica).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from engine.nodes.cluster import LocalCluster
from engine.nodes.process import ProcessNode
from engine.supervisor import URL_ENV


def timed_run(url: str, inputs: str, job_id: str, workers: int) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "engine", "run", inputs, "--no-progress", "--top", "1",
         "--job", job_id, "--workers", str(workers)],
        env={**os.environ, URL_ENV: url}, check=True, capture_output=True,
    )  # fmt: skip
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", default="../shared/data/gutenberg")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    single, cluster = ProcessNode(), LocalCluster(3, 1)
    ratios = []
    try:
        single.start()
        cluster.start()
        for pair in range(args.pairs):
            one = timed_run(single.url, args.inputs, f"pair-{pair}", args.workers)
            many = timed_run(cluster.url, args.inputs, f"pair-{pair}", args.workers)
            ratios.append(many / one)
            print(f"pair {pair}: one Redis {one:.2f} s, cluster {many:.2f} s, "
                  f"ratio {many / one:.2f}", flush=True)  # fmt: skip
    finally:
        single.close()
        cluster.close()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"median ratio cluster / one Redis: {statistics.median(ratios):.2f} "
          f"(load average {load})")  # fmt: skip


if __name__ == "__main__":
    main()
