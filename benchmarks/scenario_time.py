"""Where a fault-injection scenario's time goes: Redis start, driver start-up, bootstrap,
worker start-up, the job itself, the driver's exit, and teardown.

    .venv/bin/python benchmarks/scenario_time.py [--n 20] [--seed 1] [--backend process]

Draws ``--n`` scenarios from the main property's families (seeded, as ``faults soak``
does), runs each on a fresh node, and prints the mean and median seconds of each phase,
read from the run's history: it measures the suite, not the engine's counting speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import hypothesis.strategies as st
from hypothesis import HealthCheck, Phase, given, seed, settings

from faults import history as h
from faults.families import families_on
from faults.outcome import Outcome
from faults.runner import run_scenario

PHASES = ("redis start", "driver start-up", "bootstrap", "worker start-up", "job",
          "driver exit", "teardown", "total")  # fmt: skip


def phases(outcome: Outcome) -> dict[str, float]:
    """Seconds per phase, from the history's first bootstrap, first delivery, the end."""
    ops = outcome.history.ops
    first = outcome.drivers[0].started if outcome.drivers else outcome.setup_s
    boot = [op.time for op in ops if op.f == h.BOOTSTRAP]
    work = [op.time for op in ops if op.f in (h.DELIVER, h.CLAIM)]
    ended = max((d.ended or 0.0) for d in outcome.drivers) if outcome.drivers else first
    boot0 = boot[0] if boot else first
    boot1 = boot[-1] if boot else boot0
    work0 = work[0] if work else boot1
    done = outcome.finished_at if outcome.finished_at is not None else ended
    return {
        "redis start": outcome.setup_s,
        "driver start-up": boot0 - first,
        "bootstrap": boot1 - boot0,
        "worker start-up": max(0.0, work0 - boot1),
        "job": max(0.0, done - work0),
        "driver exit": max(0.0, ended - done),
        "teardown": max(0.0, outcome.duration_s - ended),
        "total": outcome.duration_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    args = parser.parse_args(argv)
    drawn = families_on(args.backend)
    rows: list[dict[str, float]] = []

    @seed(args.seed)
    @settings(max_examples=args.n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.sampled_from(sorted(drawn)).flatmap(lambda name: drawn[name]))
    def measure(scenario: object) -> None:
        rows.append(phases(run_scenario(scenario, args.backend)))  # type: ignore[arg-type]

    measure()
    print(f"{len(rows)} scenarios on {args.backend} (seed {args.seed}): seconds per phase")
    print(f"{'phase':<16} {'mean':>6} {'median':>7} {'share':>6}")
    total = sum(r["total"] for r in rows) or 1.0
    for name in PHASES:
        values = [r[name] for r in rows]
        share = sum(values) / total
        print(f"{name:<16} {statistics.mean(values):6.2f} {statistics.median(values):7.2f} "
              f"{share:6.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
