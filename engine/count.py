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
    import pyarrow as pa
    import pyarrow.compute as pc

    words = pc.list_flatten(pc.split_pattern(pa.array([spaced], pa.large_binary()), b" "))
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
    C; merging dicts in Python would cost more than the counting itself.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._fast = _HAVE_ARROW and _spaced(b"", tokenizer) is not None
        self._tables: list[Any] = []
        self._counter: Counter[bytes] = Counter()

    def add(self, block: bytes) -> None:
        spaced = _spaced(block, self.tokenizer) if self._fast else None
        if spaced is None:
            self._counter.update(count_python(block, self.tokenizer))
            return
        import pyarrow as pa
        import pyarrow.compute as pc

        words = pc.list_flatten(pc.split_pattern(pa.array([spaced], pa.large_binary()), b" "))
        counted = pc.value_counts(words)
        self._tables.append(pa.table({"w": counted.field("values"), "n": counted.field("counts")}))

    def merge(self, other: Tally) -> None:
        self._tables += other._tables
        self._counter.update(other._counter)

    def items(self) -> list[tuple[bytes, int]]:
        """Every word with its total, in no particular order."""
        totals = self._counter
        if self._tables:
            import pyarrow as pa

            merged = pa.concat_tables(self._tables).group_by("w").aggregate([("n", "sum")])
            words = merged.column("w").to_pylist()
            counts = merged.column("n_sum").to_pylist()
            totals = totals + Counter(dict(zip(words, counts, strict=True)))
        totals.pop(b"", None)
        return list(totals.items())


def _have_arrow() -> bool:
    try:
        import pyarrow.compute  # noqa: F401
    except ImportError:
        return False
    return True


_HAVE_ARROW = _have_arrow()
count_block: BlockCounter = count_fast if _HAVE_ARROW else count_python
"""The block counter of choice: Arrow's when pyarrow is installed, else the reference."""
