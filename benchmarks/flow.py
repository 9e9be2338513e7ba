"""Dataflow programs: work re-executed after a worker crash, and throughput.

    .venv/bin/python benchmarks/flow.py [--pairs N] [--stages N] [--backend process|docker]

Both tables run the real ``wordcount flow run`` (driver, worker processes, a Redis node)
through the fault suite's runner, and check every output against the serial interpreter.

1. **Re-execution.** A program of ``--stages`` stages over ``--pairs`` pairs, 4 partitions,
   2 workers, crashed once at ``flow.worker.before_commit`` in stage k (after executing
   its task, before committing it). With checkpoints, only the crashed task runs again;
   restarting the whole program would redo everything done before the crash and run the
   whole program again. The table shows the pairs each approach executes again, from the
   history of executions, and the wall times (the restart's is the time to the crash plus a
   fault-free run).
2. **Throughput** against partitions and workers: fault-free runs, pairs processed per
   second over all stages (``pairs x stages / wall``), wall time from the driver's start.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.flow import points
from engine.nodes.base import RedisNode
from engine.nodes.factory import make_node
from faults.flow.checker import check
from faults.flow.runner import PERSISTENCE, FlowOutcome, run_flow_scenario
from faults.flow.scenario import FlowFault, FlowScenario, Pair
from faults.scenario import Action

CLAIM_MS = 500


def program(stages: int, partitions: int) -> dict[str, object]:
    """``stages`` stages: a map, then per later stage a changeKey and the reduce it cuts at."""
    ops: list[dict[str, object]] = [{"operator": "map", "function": "MUL", "arg": 3}]
    for _ in range(stages - 1):
        ops += [
            {"operator": "changeKey", "function": "MOD", "arg": 1000},
            {"operator": "reduce", "function": "SUM"},
            {"operator": "map", "function": "ADD", "arg": 1},
        ]
    return {"partitions": partitions, "operations": ops}


def dataset(n: int) -> tuple[Pair, ...]:
    rng = random.Random(16)
    return tuple((rng.randrange(50_000), rng.randrange(-1000, 1000)) for _ in range(n))


def run(node: RedisNode, scenario: FlowScenario) -> FlowOutcome:
    outcome = run_flow_scenario(scenario, node)
    problems = check(outcome)
    if problems:
        raise SystemExit(f"invalid run: {problems}")
    return outcome


def executed(outcome: FlowOutcome) -> tuple[int, int, float | None]:
    """(pairs executed in all, pairs executed again, time of the crash) from the history."""
    seen: set[tuple[int, int]] = set()
    total = again = 0
    for op in outcome.history.select(points.WORKER_AFTER_EXECUTE):
        task = (int(op.value["stage"]), int(op.value["partition"]))
        total += int(op.value["pairs_in"])
        if task in seen:
            again += int(op.value["pairs_in"])
        seen.add(task)
    crash = [op.time for op in outcome.history if op.f == "fault"]
    return total, again, crash[0] if crash else None


def reexecution(node: RedisNode, pairs: tuple[Pair, ...], stages: int) -> None:
    base = FlowScenario(program(stages, 4), pairs, workers=2, claim_timeout_ms=CLAIM_MS)
    clean = run(node, base)
    clean_pairs, _, _ = executed(clean)
    wall = clean.duration_s
    print(
        f"\nRe-execution: {len(pairs):,} pairs, {stages} stages, 4 partitions, 2 workers, "
        f"claim timeout {CLAIM_MS} ms; fault-free: {wall:.2f} s, {clean_pairs:,} pairs "
        "executed over all stages\n"
    )
    print(
        "| crash in stage | pairs re-executed (checkpoints) | pairs re-executed (restart) "
        "| wall, checkpoints (s) | wall, restart (s) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for k in range(stages):
        fault = FlowFault(points.WORKER_BEFORE_COMMIT, Action("crash"), nth=1, stage=k)
        outcome = run(node, FlowScenario(base.program, pairs, 2, CLAIM_MS, (fault,)))
        _, again, crash_at = executed(outcome)
        done_before = sum(
            int(op.value["pairs_in"])
            for op in outcome.history.select(points.WORKER_AFTER_EXECUTE)
            if crash_at is not None and op.time <= crash_at
        )
        restart_redo = done_before
        restart_wall = (crash_at or 0.0) + wall
        print(
            f"| {k + 1} of {stages} | {again:,} | {restart_redo:,} | "
            f"{outcome.duration_s:.2f} | {restart_wall:.2f} |"
        )


def throughput(
    node: RedisNode, pairs: tuple[Pair, ...], stages: int, grid: tuple[list[int], list[int]]
) -> None:
    print(
        f"\nThroughput: {len(pairs):,} pairs, {stages} stages, fault-free "
        "(pairs x stages / wall; wall from the driver's start to its exit, as the runner saw it)\n"
    )
    print("| partitions | workers | wall (s) | pairs/s |")
    print("| --- | --- | --- | --- |")
    for partitions in grid[0]:
        for workers in grid[1]:
            scenario = FlowScenario(program(stages, partitions), pairs, workers, 10_000)
            wall = run(node, scenario).duration_s
            print(f"| {partitions} | {workers} | {wall:.2f} | {len(pairs) * stages / wall:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--stages", type=int, default=4)
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-reexecution", action="store_true")
    parser.add_argument("--partitions", default="1,2,4,8", help="throughput grid, e.g. 1,4")
    parser.add_argument("--workers", default="1,2,4", help="throughput grid, e.g. 1,2")
    args = parser.parse_args(argv)
    node = make_node(args.backend, persistence=PERSISTENCE)
    node.start()
    try:
        print(f"load average: {os.getloadavg()[0]:.2f}")
        pairs = dataset(args.pairs)
        if not args.skip_reexecution:
            reexecution(node, pairs, args.stages)
        if not args.skip_throughput:
            grid = (
                [int(p) for p in args.partitions.split(",")],
                [int(w) for w in args.workers.split(",")],
            )
            throughput(node, pairs, args.stages, grid)
        print(f"\nload average: {os.getloadavg()[0]:.2f}")
    finally:
        node.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
