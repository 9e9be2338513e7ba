"""The simple programs a user would write instead of the engine, as the issue lists them.

    python -m benchmarks.mr_peers naive|mp-bytes|mp-arrow PATH...

``naive``: ``Counter(text.split())`` over each file, one core. ``mp-bytes``:
``multiprocessing.Pool(2)``, ``Counter(bytes.split())`` per file, merged in the parent.
``mp-arrow``: ``Pool(2)``, pyarrow split and ``value_counts`` per file, merged in the
parent. Each prints the most frequent word, and the totals on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any


def _bytes_counter(path: str) -> Counter[bytes]:
    with open(path, "rb") as f:
        return Counter(f.read().split())


def _arrow_counter(path: str) -> dict[bytes, int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    with open(path, "rb") as f:
        data = f.read()
    spaced = data.translate(bytes.maketrans(b"\t\n\r\x0b\x0c", b"     "))
    words = pc.list_flatten(pc.split_pattern(pa.array([spaced], pa.large_binary()), b" "))
    counted = pc.value_counts(words)
    values, counts = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
    return {w: n for w, n in zip(values, counts, strict=True) if w}


def count(peer: str, paths: Sequence[str]) -> Counter[Any]:
    if peer == "naive":
        totals: Counter[Any] = Counter()
        for path in paths:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                totals.update(Counter(f.read().split()))
        return totals
    import multiprocessing

    work = _bytes_counter if peer == "mp-bytes" else _arrow_counter
    totals = Counter()
    with multiprocessing.Pool(2) as pool:
        for part in pool.imap_unordered(work, paths):
            totals.update(part)
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=["naive", "mp-bytes", "mp-arrow"])
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    totals = count(args.peer, args.paths)
    word, n = max(totals.items(), key=lambda item: item[1], default=("", 0))
    print(f"{word!r}\t{n}")
    print(f"{len(totals)} distinct, {sum(totals.values())} words", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
