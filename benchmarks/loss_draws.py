"""How often the main property's families draw a loss of Redis' data at the first commit.

    .venv/bin/python benchmarks/loss_draws.py [--seeds 12] [--examples 30] [--profile ci]

Draws only, no Redis. For each seed, the draws of a teeth hunt (``--examples`` per family,
in :data:`faults.teeth.FAMILIES` order) are counted with
:func:`faults.coverage.loses_first_commit`; one line per seed, then the share per family
and how many seeds drew none (a hunt that can catch ``faults.buggy.memory_progress`` only
by a later loss, or not at all). See docs/teeth.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, seed, settings

from faults.choices import vocabulary_cap
from faults.coverage import loses_first_commit
from faults.families import families
from faults.scenario import Scenario
from faults.teeth import FAMILIES


def count(family: str, draw_seed: int, examples: int, cap: int) -> tuple[int, int]:
    """(examples drawn, those with a data-losing fault at the first commit)."""
    hits: list[bool] = []

    @seed(draw_seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(families(cap)[family])
    def draw(scenario: Scenario) -> None:
        hits.append(loses_first_commit(scenario))

    draw()
    return len(hits), sum(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--examples", type=int, default=30)
    parser.add_argument("--profile", default="ci")
    args = parser.parse_args()
    cap = vocabulary_cap(args.profile)
    totals = {family: [0, 0] for family in FAMILIES}
    none = 0
    for draw_seed in range(1, args.seeds + 1):
        row = {family: count(family, draw_seed, args.examples, cap) for family in FAMILIES}
        for family, (n, hits) in row.items():
            totals[family][0] += n
            totals[family][1] += hits
        none += not any(hits for _, hits in row.values())
        print(draw_seed, {family: hits for family, (_, hits) in row.items()}, flush=True)
    for family, (n, hits) in totals.items():
        print(f"{family}: {hits} of {n} examples ({hits / max(n, 1):.1%})")
    print(f"seeds whose hunt draws none: {none} of {args.seeds}")


if __name__ == "__main__":
    main()
