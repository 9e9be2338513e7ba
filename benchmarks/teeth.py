"""Does the suite have teeth? The main property against every known-buggy engine.

    .venv/bin/python benchmarks/teeth.py [--profile ci|dev|thorough]
        [--backend process|docker] [--variants a,b] [--shrink-s S] [--no-shrink]

For each engine of :data:`faults.buggy.VARIANTS`, and the real engine as a control row,
runs the suite's main property (:func:`faults.teeth.hunt`: the strategy of
``tests/test_property.py`` under the chosen Hypothesis profile) and prints one row: caught
or not (caught means an INVALID verdict; UNKNOWN verdicts are counted in their own column
and listed after the row, never as catches), examples and seconds until the first failure,
total seconds including shrinking, and the size and faults of the shrunk failing scenario.
The table is also written as Markdown and CSV to
``benchmarks/results/teeth-PROFILE-BACKEND.{md,csv}``. Shrinking is bounded by
``--shrink-s`` per engine, so a whole table at the ``ci`` profile takes minutes.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faults.buggy import VARIANTS as CLASSIC
from faults.buggy_review import VARIANTS as REVIEW
from faults.profiles import PROFILES
from faults.strategies import size
from faults.teeth import Hunt, hunt

VARIANTS = {**CLASSIC, **REVIEW}
"""Every buggy engine: the classic eight and those kept from the review of the engine."""

RESULTS = Path(__file__).resolve().parent / "results"
CONTROL = "real engine (control)"
COLUMNS = ("variant", "caught", "examples", "first_failure_s", "total_s", "files", "words",
           "workers", "faults", "shrunk faults", "unknown")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="ci")
    parser.add_argument("--backend", choices=("process", "docker"), default="process")
    review = ",".join(REVIEW)
    parser.add_argument("--variants", help=f"comma-separated names (default: the classic eight; "
                        f"the review's: {review})")
    parser.add_argument("--shrink-s", type=float, default=90.0,
                        help="shrinking time per engine after its first failure (default 90)")
    parser.add_argument("--no-shrink", action="store_true", help="stop at the first failure")
    parser.add_argument("--no-control", action="store_true", help="skip the real engine's row")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def engines(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    names = args.variants.split(",") if args.variants else list(CLASSIC)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: unknown variant(s) {unknown}: use some of {list(VARIANTS)}")
    rows: list[tuple[str, str | None]] = [(n, VARIANTS[n]) for n in names]
    return rows if args.no_control else [*rows, (CONTROL, None)]


def row(name: str, result: Hunt) -> dict[str, str]:
    """One table row; the size columns describe the shrunk failing scenario."""
    shrunk = size(result.shrunk) if result.shrunk else {}
    first = result.first_failure_s
    faults = " ".join(str(f) for f in result.shrunk.faults) if result.shrunk else ""
    caught = "yes" if result.caught else ("ERROR" if result.error else "no")
    return {
        "variant": name,
        "caught": caught,
        "examples": str(result.examples),
        "first_failure_s": "" if first is None else f"{first:.1f}",
        "total_s": f"{result.total_s:.1f}",
        **{k: str(shrunk.get(k, "")) for k in ("files", "words", "workers", "faults")},
        "shrunk faults": faults or ("(none)" if result.shrunk else ""),
        "unknown": str(len(result.unknowns)),
    }


def markdown(rows: list[dict[str, str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(r[c] for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write(rows: list[dict[str, str]], out: Path, stem: str, header: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with (out / f"{stem}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    path = out / f"{stem}.md"
    path.write_text(header + "\n\n" + markdown(rows), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    rows, started = [], time.monotonic()
    for name, spec in engines(args):
        print(f"--- {name} ({spec or 'engine.plugins:default'})", flush=True)
        result = hunt(spec, args.backend, profile=args.profile, shrink=not args.no_shrink,
                      shrink_s=args.shrink_s, label=f"teeth-{name.split()[0]}")  # fmt: skip
        rows.append(row(name, result))
        print(" | ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
        for problem in result.problems[:3]:
            print(f"    problem: {problem}", flush=True)
        if result.error:
            print(f"    error: {result.error[:500]}", flush=True)
        for unknown in result.unknowns:  # not catches: what could not be judged, and why
            why = "; ".join(unknown.verdict.problems)[:300]
            print(f"    unknown (not counted as caught): {unknown.path}: {why}", flush=True)
    header = (f"Teeth: `benchmarks/teeth.py --profile {args.profile} --backend {args.backend}`, "
              f"{time.monotonic() - started:.0f} s in all")  # fmt: skip
    path = write(rows, args.out, f"teeth-{args.profile}-{args.backend}", header)
    print("\n" + header + "\n\n" + markdown(rows) + f"\nwritten to {path} and .csv")
    missed = [r["variant"] for r in rows if r["variant"] != CONTROL and r["caught"] != "yes"]
    control_failed = any(r["variant"] == CONTROL and r["caught"] != "no" for r in rows)
    return 1 if missed or control_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
