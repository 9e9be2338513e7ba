"""The gate's throughput: scenarios per minute of the main property, an older commit
beside the working tree, measured side by side in one run.

    .venv/bin/python benchmarks/gate_speed.py [--baseline a729aee] [--rounds 2]
        [--backends process,docker] [--seed 1] [--profile ci] [-n 2]

The baseline commit is exported (``git archive``) into a temporary directory; the
working tree is the other side. Each round runs ``pytest -n N tests/test_property.py``
once in each tree, in alternating order (ABBA), each with its own ``PYTHONPATH`` and
working directory, so both see the same machine: the load changes while they run, and
only a ratio measured this way means anything on a shared machine. The scenarios and the
wall time come from the summary each run writes (``.faults/summary.json``, see
:mod:`faults.pytest_summary`), the same figure as its ``scenarios/min`` line. The load
average is sampled before and after every run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = "a729aee"
"""The last commit before issue 12's speed work (workers forked from the driver)."""
SUMMARY = Path(".faults") / "summary.json"


@dataclasses.dataclass(frozen=True)
class Run:
    """One pytest run of the main property in one tree."""

    side: str
    backend: str
    scenarios: int
    wall_s: float
    load: tuple[float, float]
    exit_code: int

    @property
    def per_min(self) -> float:
        return 60 * self.scenarios / self.wall_s if self.wall_s > 0 else 0.0


@contextlib.contextmanager
def exported(commit: str) -> Iterator[Path]:
    """The tree of ``commit`` in a temporary directory (removed afterwards)."""
    where = Path(tempfile.mkdtemp(prefix=f"gate-speed-{commit[:12]}-"))
    try:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit],
                                 check=True, capture_output=True).stdout  # fmt: skip
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(where, filter="data")
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def run_once(tree: Path, side: str, backend: str, args: argparse.Namespace) -> Run:
    """``pytest`` on the main property in ``tree``; scenarios and wall from its summary."""
    summary = tree / SUMMARY
    summary.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "HYPOTHESIS_PROFILE": args.profile,
           "TESTCONTAINERS_RYUK_DISABLED": "true"}  # fmt: skip
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-n", str(args.n), "tests/test_property.py", "--redis-backend", backend,
            f"--hypothesis-seed={args.seed}"]  # fmt: skip
    before = os.getloadavg()[0]
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    after = os.getloadavg()[0]
    if done.returncode != 0:
        sys.stderr.write(f"[{side} {backend}] pytest exited {done.returncode}:\n"
                         f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}\n")  # fmt: skip
    try:
        data = json.loads(summary.read_text())
        scenarios, wall = int(data["scenarios"]), float(data["wall_s"])
    except (OSError, ValueError, KeyError):
        scenarios, wall = 0, 0.0
    return Run(side, backend, scenarios, wall, (before, after), done.returncode)


def rounds(trees: dict[str, Path], backend: str, args: argparse.Namespace) -> list[Run]:
    """``args.rounds`` rounds, each side once per round, the first side alternating."""
    runs = []
    sides = list(trees)
    for i in range(args.rounds):
        for side in sides if i % 2 == 0 else reversed(sides):
            run = run_once(trees[side], side, backend, args)
            print(f"  {backend:<8} round {i + 1} {side:<9} {run.scenarios:3d} scenarios "
                  f"in {run.wall_s:6.1f} s = {run.per_min:5.1f}/min  load "
                  f"{run.load[0]:.1f}->{run.load[1]:.1f}"
                  f"{'' if run.exit_code == 0 else f'  (exit {run.exit_code})'}",
                  flush=True)  # fmt: skip
            runs.append(run)
    return runs


def totals(runs: list[Run], side: str) -> tuple[int, float, float]:
    """Scenarios, wall seconds and scenarios/min of one side over all its rounds."""
    mine = [r for r in runs if r.side == side]
    scenarios = sum(r.scenarios for r in mine)
    wall = sum(r.wall_s for r in mine)
    return scenarios, wall, (60 * scenarios / wall if wall else 0.0)


def report(runs: list[Run], baseline: str) -> None:
    print("\nbackend   side       scenarios  wall (s)  per min   load (min-max)")
    for backend in dict.fromkeys(r.backend for r in runs):
        mine = [r for r in runs if r.backend == backend]
        rates = {}
        for side in ("baseline", "current"):
            n, wall, rate = totals(mine, side)
            loads = [x for r in mine if r.side == side for x in r.load]
            rates[side] = rate
            print(f"{backend:<9} {side:<10} {n:9d} {wall:9.1f} {rate:8.1f}   "
                  f"{min(loads):.1f}-{max(loads):.1f}")  # fmt: skip
        ratio = rates["current"] / rates["baseline"] if rates["baseline"] else float("nan")
        print(f"{backend:<9} ratio current/baseline ({baseline}): {ratio:.2f}x")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare with")
    parser.add_argument("--current", default=None,
                        help="commit for the other side (default: the working tree as it is)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side per backend")
    parser.add_argument("--backends", default="process,docker")
    parser.add_argument("--seed", type=int, default=1, help="--hypothesis-seed of every run")
    parser.add_argument("--profile", default="ci", help="HYPOTHESIS_PROFILE of every run")
    parser.add_argument("-n", type=int, default=2, help="pytest-xdist workers")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    if not backends or any(b not in ("process", "docker") for b in backends):
        parser.error("--backends takes process, docker or both, comma-separated")
    args.backends = backends
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def resolve(ref: str) -> str | None:
    """The short hash of ``ref``, or ``None`` if it names no commit."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                               f"{ref}^{{commit}}"], check=True,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
    except subprocess.CalledProcessError:
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    refs = [args.baseline] + ([args.current] if args.current else [])
    commits = [resolve(ref) for ref in refs]
    if None in commits:
        bad = refs[commits.index(None)]
        sys.stderr.write(f"error: {bad!r} is not a commit of {REPO}: pass another\n")
        return 2
    commit = str(commits[0])
    other = str(commits[1]) if args.current else f"the working tree {REPO}"
    print(f"main property at HYPOTHESIS_PROFILE={args.profile}, seed {args.seed}, -n {args.n}: "
          f"baseline {commit} against {other}", flush=True)  # fmt: skip
    runs: list[Run] = []
    with exported(commit) as old, contextlib.ExitStack() as stack:
        new = stack.enter_context(exported(str(commits[1]))) if args.current else REPO
        trees = {"baseline": old, "current": new}
        for backend in args.backends:
            runs += rounds(trees, backend, args)
    report(runs, commit)
    return 0 if all(r.exit_code == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
