"""The characters and bytes the strategies draw: every whitespace character of Python is
one for the engine's tokenizer and fast counter, every invalid byte class is classified
as itself and stays inside its word, and the strategies' alphabets hold them all."""

from __future__ import annotations

import pytest

from engine.count import UNICODE_SPACES, count_fast, count_python
from engine.tokenize import Tokenizer, decode, encode
from faults.alphabet import NOT_UTF8, WHITESPACE, invalid_classes, whitespace_in
from faults.strategies import INVALID, SEPARATORS

ISSUE_LIST = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
"""Issue 11's list, typed in: the derived one must be exactly this."""
CONSUMED = {"overlong", "surrogate", "above-max"}
"""Classes whose trailing bytes Python's decoder rejects one by one, as lone continuations."""


def test_whitespace_is_python_list_and_engine_list() -> None:
    assert set(WHITESPACE) == set(ISSUE_LIST)
    ascii_spaces = {c for c in WHITESPACE if c.isascii()}
    assert set(WHITESPACE) - ascii_spaces == set(UNICODE_SPACES)


@pytest.mark.parametrize("space", WHITESPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_every_whitespace_splits_in_the_engine(space: str) -> None:
    data = f"ab{space}cd{space}ab".encode()
    tokenizer = Tokenizer("whitespace")
    assert list(tokenizer.words(decode(data))) == ["ab", "cd", "ab"]
    assert count_python(data, tokenizer) == {b"ab": 2, b"cd": 1}
    assert count_fast(data, tokenizer) == {b"ab": 2, b"cd": 1}
    assert whitespace_in(data) == {space} | ({" "} if space == " " else set())


@pytest.mark.parametrize(
    ("name", "example"), [(n, e) for n, es in NOT_UTF8.items() for e in es], ids=repr
)
def test_every_invalid_class_is_itself_and_stays_in_its_word(name: str, example: bytes) -> None:
    with pytest.raises(UnicodeDecodeError):
        example.decode("utf-8")
    data = b"ab" + example + b" cd"
    found = invalid_classes(data)
    assert name in found
    assert found <= {name, "lone-continuation"} if name in CONSUMED else found == {name}
    words = list(Tokenizer("whitespace").words(decode(data)))
    assert [encode(w) for w in words] == [b"ab" + example, b"cd"]
    assert count_fast(data, Tokenizer()) == {b"ab" + example: 1, b"cd": 1}


def test_valid_text_has_no_invalid_class() -> None:
    assert invalid_classes("é日本 \U0001f600 \u3000 plain".encode()) == set()
    assert invalid_classes(b"") == set()


def test_a_space_right_after_a_broken_sequence_is_still_found() -> None:
    data = b"a\xe6" + "\u3000".encode() + b"b\xc3" + "\x85".encode()
    assert whitespace_in(data) == {"\u3000", "\x85"}
    assert invalid_classes(data) == {"truncated-3", "truncated-2"}


def test_the_strategies_alphabets_hold_everything() -> None:
    drawn = {sep.decode() for sep in SEPARATORS}
    assert set(WHITESPACE) <= {c for sep in drawn for c in sep}
    assert set().union(*(invalid_classes(b"a" + ex + b" ") for ex in INVALID)) == set(NOT_UTF8)
