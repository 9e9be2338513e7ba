"""The characters and bytes a tokenizer gets wrong: every whitespace character, every class
of bytes that is not UTF-8, and how to tell which of them a file holds.

The whitespace list is derived from Python (``str.split()`` splits on exactly the
characters for which ``str.isspace()`` is true), not typed in, so no character can be
forgotten; ``tests/test_strategies_alphabet.py`` checks it against the engine's tokenizer
and fast counter. The invalid byte classes follow the UTF-8 definition (RFC 3629): each
is a different branch of a decoder, and each must stay inside its word, byte for byte.
"""

from __future__ import annotations

import re

WHITESPACE: tuple[str, ...] = tuple(chr(c) for c in range(0x110000) if chr(c).isspace())
"""Every character ``str.split()`` splits on (ASCII first, in code point order)."""

NOT_UTF8: dict[str, tuple[bytes, ...]] = {
    "lone-continuation": (b"\x80", b"\xbf", b"\x80\x80"),
    "truncated-2": (b"\xc3", b"\xdf"),
    "truncated-3": (b"\xe6", b"\xe6\x97", b"\xed\x9f"),
    "truncated-4": (b"\xf0\x9f", b"\xf0\x9f\x98", b"\xf4\x8f\xbf"),
    "overlong": (b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf"),
    "surrogate": (b"\xed\xa0\x80", b"\xed\xbf\xbf"),
    "above-max": (b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80"),
    "fe-ff": (b"\xfe", b"\xff"),
}
"""Each class of invalid UTF-8, with examples (each invalid wherever it stands, as long as
it is not followed by a continuation byte: a truncated sequence must end its word)."""

_ESCAPED = re.compile("[\udc80-\udcff]+")


def _cont(byte: int) -> bool:
    return 0x80 <= byte <= 0xBF


def _lead_class(run: bytes, i: int) -> tuple[str, int]:
    """The class of the invalid sequence starting at ``run[i]``, and its length in ``run``
    (``run`` holds only bytes that Python's decoder rejected)."""
    b, nxt = run[i], run[i + 1] if i + 1 < len(run) else None
    if _cont(b):
        return "lone-continuation", 1
    if b >= 0xFE:
        return "fe-ff", 1
    if b >= 0xF8 or 0xF5 <= b <= 0xF7 or (b == 0xF4 and nxt is not None and nxt >= 0x90):
        return "above-max", 1
    if (
        b in (0xC0, 0xC1)
        or (b == 0xE0 and nxt is not None and nxt < 0xA0)
        or (b == 0xF0 and nxt is not None and nxt < 0x90)
    ):
        return "overlong", 1
    if b == 0xED and nxt is not None and nxt >= 0xA0:
        return "surrogate", 1
    width = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
    n = 1
    while n < width - 1 and i + n < len(run) and _cont(run[i + n]):
        n += 1  # the continuation bytes that came before the sequence broke off
    return f"truncated-{width}", n


def invalid_classes(data: bytes) -> set[str]:
    """The classes of :data:`NOT_UTF8` that occur in ``data``.

    Decoding with ``surrogateescape`` (as the engine does) turns each rejected byte into
    U+DC80..U+DCFF; each run of them is classified from its first bytes. A run's trailing
    continuation bytes after an overlong, surrogate or too-large lead count as lone ones:
    Python's decoder rejects them one by one, exactly so.
    """
    if data.isascii():
        return set()
    found: set[str] = set()
    # Each distinct run once: its class depends on nothing else, and text repeats them.
    for escaped in set(_ESCAPED.findall(data.decode("utf-8", "surrogateescape"))):
        run = bytes(ord(c) - 0xDC00 for c in escaped)
        i = 0
        while i < len(run):
            name, n = _lead_class(run, i)
            found.add(name)
            i += n
    return found


def whitespace_in(data: bytes) -> set[str]:
    """The characters of :data:`WHITESPACE` whose UTF-8 encoding occurs in ``data``.

    A multi-byte space whose bytes follow a truncated lead byte still decodes as itself
    (see :mod:`engine.count`), so a plain substring test is exact.
    """
    return {c for c in WHITESPACE if c.encode() in data}


def char_label(c: str) -> str:
    """``U+3000``-style name of a character, for the summary."""
    return f"U+{ord(c):04X}"
