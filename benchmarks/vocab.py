"""Zipf corpora with a chosen number of distinct words (for the MapReduce experiments).

Unlike :mod:`benchmarks.corpus`, whose rare-word tail grows with the input, a corpus here
has exactly ``distinct`` distinct words: a fixed vocabulary drawn with Zipf frequencies
(exponent 1.0), with every word of the vocabulary placed once more at a random spot so
that none is missing. The issue's corpus is ``zipf_vocab(200 MB, 20, 200_000)``.
Corpora are cached like the others (``$WORDCOUNT_BENCH_CACHE``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.corpus import _cached

SEED = 20261201
WORDS_PER_LINE = 12


def _vocabulary(distinct: int, rng: np.random.Generator) -> np.ndarray:
    """``distinct`` different lower-case words (a letter code of a unique number, so
    no duplicates), shortest for the most frequent ranks, as in natural text."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    numbers = rng.permutation(distinct).astype(np.int64)
    words = []
    for rank, n in enumerate(numbers.tolist()):
        width = 2 + int(np.log2(rank + 2)) // 3  # 2 letters for the top words, ~8 at 2M
        code = bytearray()
        for _ in range(width):
            code.append(int(letters[n % 26]))
            n //= 26
        words.append(bytes(code) + b"%d" % n if n else bytes(code))
    return np.array(words, dtype=object)


def _text(words: np.ndarray, cdf: np.ndarray, nbytes: int, extra: list[bytes],
          rng: np.random.Generator) -> bytes:  # fmt: skip
    """About ``nbytes`` of Zipf-drawn words, with the ``extra`` words mixed in."""
    parts, size = [], 0
    spaced = np.array([w + b" " for w in words], dtype=object)
    lined = np.array([w + b"\n" for w in words], dtype=object)
    while size < nbytes:
        n = 1 << 18
        idx = np.minimum(np.searchsorted(cdf, rng.random(n)), len(cdf) - 1)
        breaks = rng.random(n) < 1 / WORDS_PER_LINE
        part = b"".join(np.where(breaks, lined[idx], spaced[idx]).tolist())
        parts.append(part)
        size += len(part)
    data = b"".join(parts)
    cut = data.rfind(b" ", 0, max(1, nbytes - sum(len(w) + 1 for w in extra))) + 1
    return data[:cut] + b" ".join(extra) + b"\n"


def zipf_vocab(total: int, n_files: int, distinct: int) -> list[Path]:
    """``n_files`` files of about ``total / n_files`` bytes with ``distinct`` distinct words."""

    def build(where: Path) -> None:
        rng = np.random.default_rng([SEED, distinct])
        words = _vocabulary(distinct, rng)
        weights = 1.0 / np.arange(1, distinct + 1)
        cdf = np.cumsum(weights / weights.sum())
        every = [words[i] for i in rng.permutation(distinct).tolist()]
        share = -(-distinct // n_files)
        for i in range(n_files):
            extra = every[i * share : (i + 1) * share]
            data = _text(words, cdf, total // n_files, extra, rng)
            (where / f"part-{i:03d}.txt").write_bytes(data)

    return sorted(_cached(f"vocab-{SEED}-{total}-{n_files}-{distinct}", build).iterdir())
