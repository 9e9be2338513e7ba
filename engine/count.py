"""Counting the words of a block of bytes, fast, with the tokenizer's exact semantics.

:func:`count_python` is the reference: decode, split with the tokenizer, encode each word
back. :func:`count_fast` gets the same answer without decoding: it maps every byte
sequence that the tokenizer treats as a separator to a single space, then lets Arrow split
on spaces and count in C. Two facts make the mapping exact. ASCII bytes never occur inside
a multi-byte UTF-8 sequence; and a well-formed multi-byte sequence (such as U+3000, an
ideographic space) always starts with a lead byte, which is never part of an earlier
sequence, so Python's decoder reads it as that character wherever it stands, even after
invalid bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from engine.pack import pack_columns, pack_pairs
from engine.tokenize import Tokenizer, decode, encode

BlockCounter = Callable[[bytes, Tokenizer], dict[bytes, int]]

_ASCII_SPACES = bytes(c for c in range(128) if chr(c).isspace())
# The non-ASCII characters for which str.isspace() is true (Unicode White_Space plus
# U+0085); tests/test_count.py checks this list against every code point.
UNICODE_SPACES = [
    "\x85", "\xa0", "\u1680", *(chr(c) for c in range(0x2000, 0x200B)),
    "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
]  # fmt: skip
_UNICODE_SPACES = UNICODE_SPACES
_TO_SPACE = {
    "whitespace": bytes.maketrans(_ASCII_SPACES, b" " * len(_ASCII_SPACES)),
    "space": bytes.maketrans(b"\r\n", b"  "),
}
_UNICODE_SPACE_RE = re.compile(b"|".join(re.escape(c.encode()) for c in _UNICODE_SPACES))


def count_python(block: bytes, tokenizer: Tokenizer) -> dict[bytes, int]:
    """The reference: the tokenizer's words, as the exact bytes they came from."""
    return dict(Counter(encode(word) for word in tokenizer.words(decode(block))))


def count_fast(block: bytes, tokenizer: Tokenizer) -> dict[bytes, int]:
    """The same counts as :func:`count_python`, split and counted by Arrow."""
    spaced = _spaced(block, tokenizer)
    if spaced is None:
        return count_python(block, tokenizer)
    import pyarrow.compute as pc

    words = pc.list_flatten(pc.split_pattern(_one_binary(spaced), b" "))
    counted = pc.value_counts(words)
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return {word: n for word, n in zip(values, counts, strict=True) if word}


def _spaced(block: bytes, tokenizer: Tokenizer) -> bytes | None:
    """The block with every separator turned into b" ", or None if only Python can tell."""
    if tokenizer.lower:
        if not block.isascii():
            return None  # Unicode lower-casing needs the decoded text
        block = block.lower()
    spaced = block.translate(_TO_SPACE[tokenizer.split_on])
    if tokenizer.split_on == "whitespace" and not spaced.isascii():
        spaced = _UNICODE_SPACE_RE.sub(b" ", spaced)
    return spaced


class Tally:
    """Counts gathered over many blocks, merged once when the totals are wanted.

    With pyarrow, each block's counts stay an Arrow table and the merge is one group-by in
    C; merging dicts in Python would cost more than the counting itself. :meth:`packed`
    hands the totals to Redis without ever making them Python objects.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._tables: list[Any] = []
        self._counter: Counter[bytes] = Counter()

    def add(self, block: bytes) -> None:
        spaced = _spaced(block, self.tokenizer)
        if spaced is None:
            self._counter.update(count_python(block, self.tokenizer))
            return
        if not _use_arrow(len(spaced)):
            self._counter.update(spaced.split(b" "))  # b"" from adjacent spaces: dropped later
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        words = pc.list_flatten(pc.split_pattern(_one_binary(spaced), b" "))
        del spaced  # the block's bytes may go while the counts are kept
        counted = pc.value_counts(words)
        self._tables.append(pa.table({"w": counted.field("values"), "n": counted.field("counts")}))

    def merge(self, other: Tally) -> None:
        self._tables += other._tables
        self._counter.update(other._counter)

    def items(self) -> list[tuple[bytes, int]]:
        """Every word with its total, in no particular order."""
        if not self._tables:
            return [(w, n) for w, n in self._counter.items() if w]  # b"": between spaces
        words, counts = self._columns()
        return list(zip(words.to_pylist(), counts.to_pylist(), strict=True))

    def packed(self, max_pairs: int) -> tuple[int, list[bytes]]:
        """The number of distinct words, and the totals as msgpack arrays of at most
        ``max_pairs`` pairs each (at least one array, maybe empty)."""
        if not self._tables:
            pairs = self.items()
            starts = range(0, max(len(pairs), 1), max_pairs)
            return len(pairs), [pack_pairs(pairs[i : i + max_pairs]) for i in starts]
        words, counts = self._columns()
        starts = range(0, max(len(words), 1), max_pairs)
        return len(words), [
            pack_columns(words.slice(i, max_pairs), counts.slice(i, max_pairs)) for i in starts
        ]

    def _columns(self) -> tuple[Any, Any]:
        """Distinct non-empty words and their totals, as two Arrow arrays."""
        import pyarrow as pa
        import pyarrow.compute as pc

        tables = list(self._tables)
        if self._counter:  # blocks only Python could split: their words may recur in Arrow's
            words = pa.array(list(self._counter), pa.large_binary())
            counts = pa.array(list(self._counter.values()), pa.int64())
            tables.append(pa.table({"w": words, "n": counts}))
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        words, counts = (table.column(c).combine_chunks() for c in ("w", "n"))
        if len(tables) > 1:
            words, counts = _sum_by_word(words, counts)
        keep = pc.not_equal(pc.binary_length(words), 0)
        return words.filter(keep), counts.filter(keep)


def _sum_by_word(words: Any, counts: Any) -> tuple[Any, Any]:
    """Each distinct word once, with the sum of its counts. Arrow's group-by costs about
    160 ns a row; hashing the words once (dictionary_encode) and summing with numpy costs
    a fifth of that. The float64 sums are exact below 2**53."""
    import numpy as np
    import pyarrow as pa

    encoded = words.dictionary_encode()
    indices = encoded.indices.to_numpy()
    sums = np.bincount(indices, weights=counts.to_numpy(), minlength=len(encoded.dictionary))
    return encoded.dictionary, pa.array(sums.astype(np.int64))


def _one_binary(data: bytes) -> Any:
    """An Arrow array whose single item is ``data``, sharing its memory (no copy)."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


def _have_arrow() -> bool:
    """Whether pyarrow is installed, without importing it (about 0.2 s of CPU)."""
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


_HAVE_ARROW = _have_arrow()
ARROW_AFTER_BYTES = 4 << 20
"""Bytes a process counts in Python before it imports pyarrow and numpy. Python's
``bytes.split`` and ``Counter`` count about half as fast as Arrow, but importing Arrow
costs as much CPU as counting about 10 MB: a small job never pays for it, a large one
switches after the first few MB."""
_counted = 0


def _use_arrow(nbytes: int) -> bool:
    """Count the next ``nbytes`` with Arrow: installed, and this process is past the
    first :data:`ARROW_AFTER_BYTES` (or the block alone is that large)."""
    global _counted
    _counted += nbytes
    return _HAVE_ARROW and _counted > ARROW_AFTER_BYTES


count_block: BlockCounter = count_fast if _HAVE_ARROW else count_python
"""The block counter of choice: Arrow's when pyarrow is installed, else the reference."""
