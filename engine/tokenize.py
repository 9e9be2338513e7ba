"""How text becomes words, shared by the workers and the serial reference.

Files are decoded as UTF-8 with the ``surrogateescape`` error handler: a byte that is not
valid UTF-8 becomes a lone surrogate code point, which no whitespace rule matches, so it
stays inside its word, and encoding the word back with ``surrogateescape`` gives exactly
the bytes of the file. Nothing is lost or merged: Redis stores each word as its original
bytes, and output files write them back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Literal

from engine.errors import ConfigError

SplitOn = Literal["whitespace", "space"]
ENCODING = "utf-8"
ERRORS = "surrogateescape"
# Bytes that end a word under either rule, so a file may be cut after any of them without
# cutting a word. They are ASCII: they never occur inside a multi-byte UTF-8 sequence.
SAFE_CUT_BYTES = frozenset(b" \n\r")


def decode(data: bytes) -> str:
    """Bytes to text, keeping invalid bytes as surrogates (see the module docstring)."""
    return data.decode(ENCODING, ERRORS)


def encode(word: str) -> bytes:
    """A word back to the exact bytes it came from."""
    return word.encode(ENCODING, ERRORS)


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """Splits text into words.

    ``whitespace`` (the default) splits on runs of Unicode whitespace, as ``str.split()``
    does. ``space`` follows the labs' ``serial.py``: lines are split on the single space
    character, so tabs and other whitespace stay inside words; line breaks (``\n`` and
    ``\r``) end words too, and empty strings between adjacent spaces are not words.
    ``lower`` lower-cases the text; nothing else is normalised.
    """

    split_on: SplitOn = "whitespace"
    lower: bool = False

    def __post_init__(self) -> None:
        if self.split_on not in ("whitespace", "space"):
            raise ConfigError(f"unknown --split-on {self.split_on!r}: use 'whitespace' or 'space'")

    def words(self, text: str) -> Iterator[str]:
        """The words of ``text``, in order."""
        if self.lower:
            text = text.lower()
        if self.split_on == "whitespace":
            yield from text.split()
            return
        spaced = text.replace("\r", " ").replace("\n", " ")
        yield from (word for word in spaced.split(" ") if word)

    def count(self, texts: Iterable[str], into: Counter[str] | None = None) -> Counter[str]:
        """Count the words of several pieces of text, each split on its own."""
        counts: Counter[str] = Counter() if into is None else into
        for text in texts:
            counts.update(self.words(text))
        return counts

    def as_dict(self) -> dict[str, object]:
        return {"split_on": self.split_on, "lower": self.lower}
