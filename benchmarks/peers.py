"""The peers the engine is compared with, as commands: a process pool and a Dask bag.

    python -m benchmarks.peers mp|dask [--processes N] PATH...

``mp`` is the engine without coordination: ``multiprocessing.Pool`` over the same tasks,
counted by the engine's own block reader and counter (``engine.inputs.iter_blocks``,
``engine.count.Tally``), merged in the parent. ``dask`` is the idiomatic Dask word count,
``read_text(...).str.split().flatten().frequencies()`` on the multiprocessing scheduler.
Both print the most frequent word, as ``wordcount`` does, and the totals on stderr so a
benchmark run can be checked against the others.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from engine.tasks import Task


def _count_task(task: Task) -> list[tuple[bytes, int]]:
    """One task, counted exactly as an engine worker counts it."""
    from engine.count import Tally
    from engine.inputs import iter_blocks
    from engine.tokenize import Tokenizer

    tally = Tally(Tokenizer())
    for block in iter_blocks(task):
        tally.add(block)
    return tally.items()


def count_with_pool(paths: Sequence[str], processes: int) -> Counter[bytes]:
    import multiprocessing

    from engine.inputs import expand_inputs

    totals: Counter[bytes] = Counter()
    with multiprocessing.Pool(processes) as pool:
        for items in pool.imap_unordered(_count_task, expand_inputs(paths)):
            totals.update(dict(items))
    return totals


def count_with_dask(paths: Sequence[str], processes: int) -> Counter[bytes]:
    import dask
    import dask.bag as db

    from engine.inputs import expand_inputs

    files = [task.path for task in expand_inputs(paths)]
    bag = db.read_text(files, encoding="utf-8", errors="surrogateescape")  # type: ignore[no-untyped-call]
    words = bag.str.split().flatten().frequencies()
    with dask.config.set(scheduler="processes", num_workers=processes):
        pairs = words.compute()
    return Counter({w.encode(errors="surrogateescape"): n for w, n in pairs})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=["mp", "dask"])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    count = count_with_pool if args.peer == "mp" else count_with_dask
    totals = count(args.paths, args.processes)
    word, n = max(totals.items(), key=lambda item: item[1], default=(b"", 0))
    print(f"{word.decode(errors='replace')}\t{n}")
    print(f"{len(totals)} distinct, {sum(totals.values())} words", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
