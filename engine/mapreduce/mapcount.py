"""A map task's local count, split into partitions, with the same bytes on every run.

Determinism is what lets a re-executed map (a straggler's thief, or a redo after a lost
file) rename its output over the first one's: the count always goes through Arrow (never
the stream mode's Python warm-up path, whose use depends on what the process did before),
blocks are cut at the same places, and Arrow's hash-based counting keeps words in order of
first appearance. A word's partition is a fixed hash of its bytes, computed with numpy.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from engine.count import _one_binary, _spaced, _sum_by_word, count_python
from engine.tokenize import Tokenizer

_MIX = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F,
                 0x165667B1, 0xD3A2646C, 0xFD7046C5, 0xB55A4F09], np.uint64)  # fmt: skip


def count_blocks(
    blocks: Iterable[bytes], tokenizer: Tokenizer, between: Callable[[], None] = lambda: None
) -> tuple[Any, Any]:
    """Distinct non-empty words (Arrow large_binary) and their totals (int64), in a fixed
    order for fixed blocks. ``between`` runs after each block (claim renewal)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = []
    for block in blocks:
        spaced = _spaced(block, tokenizer)
        if spaced is None:  # only Python can split it (--lower on non-ASCII text)
            counted = Counter(count_python(block, tokenizer))
            words = pa.array(list(counted), pa.large_binary())
            tables.append(pa.table({"w": words, "n": pa.array(list(counted.values()), pa.int64())}))
        else:
            split = pc.list_flatten(pc.split_pattern(_one_binary(spaced), b" "))
            del spaced
            vc = pc.value_counts(split)
            tables.append(pa.table({"w": vc.field("values"), "n": vc.field("counts")}))
        between()
    if not tables:
        return pa.array([], pa.large_binary()), pa.array([], pa.int64())
    table = pa.concat_tables(tables)
    words, counts = (table.column(c).combine_chunks() for c in ("w", "n"))
    if len(tables) > 1:
        words, counts = _sum_by_word(words, counts)
    keep = pc.not_equal(pc.binary_length(words), 0)
    return words.filter(keep).cast(pa.large_binary()), counts.filter(keep)


def partition_of(words: Any, m: int) -> Any:
    """Each word's partition in ``range(m)``: a hash of its length, its first eight bytes
    and its last four (positions past a short word's end repeat its last byte), the same
    in every process and on every host. Gathering a dozen bytes per word costs a third of
    hashing every byte, and words that agree on all of them merely share a partition."""
    n = len(words)
    if n == 0:
        return np.zeros(0, np.int64)
    offsets = np.frombuffer(words.buffers()[1], np.int64)[words.offset : words.offset + n + 1]
    data = np.frombuffer(words.buffers()[2], np.uint8)
    starts, ends = offsets[:-1], offsets[1:] - 1
    h = (ends - starts).astype(np.uint64) * _MIX[0]
    for k in range(12):
        at = np.minimum(starts + k, ends) if k < 8 else np.maximum(ends - (k - 8), starts)
        h = (h ^ data[at].astype(np.uint64)) * _MIX[1 + k % 7]
    h ^= h >> np.uint64(31)
    return ((h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)) % np.uint64(m)


def split(words: Any, counts: Any, m: int) -> list[tuple[Any, Any]]:
    """The pairs of each partition, in their original order within it."""
    import pyarrow as pa

    parts = partition_of(words, m).astype(np.int64)
    values = np.asarray(counts.to_numpy(zero_copy_only=False))
    if m <= 8:  # a few passes of a mask beat a sort
        masks = [parts == p for p in range(m)]
        return [(words.filter(pa.array(mask)), values[mask]) for mask in masks]
    order = np.argsort(parts, kind="stable")
    bounds = np.searchsorted(parts[order], np.arange(m + 1))
    taken_w = words.take(pa.array(order)) if len(words) else words
    taken_n = values[order]
    return [
        (taken_w.slice(int(a), int(b - a)), taken_n[int(a) : int(b)])
        for a, b in itertools.pairwise(bounds)
    ]


def merge(parts: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    """One partition's totals over every map's output."""
    import pyarrow as pa

    parts = [p for p in parts if len(p[0])]
    if not parts:
        return pa.array([], pa.large_binary()), pa.array([], pa.int64())
    if len(parts) == 1:
        return parts[0]
    words = pa.concat_arrays([w for w, _ in parts])
    counts = pa.concat_arrays([n for _, n in parts])
    return _sum_by_word(words, counts)
