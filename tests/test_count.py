"""The fast counter must give exactly the reference tokenizer's words, on any bytes."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import msgpack
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from engine import count
from engine.count import UNICODE_SPACES, Tally, count_fast, count_python
from engine.pack import pack_columns
from engine.tokenize import Tokenizer

TOKENIZERS = [Tokenizer(), Tokenizer("space"), Tokenizer(lower=True), Tokenizer("space", True)]
# Pieces chosen to hit every separator and every way UTF-8 can be broken around one.
PIECES = [
    b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1f", b"\x85", b"\xc2\x85",
    b"\xc2\xa0", b"\xe3\x80\x80", b"\xe2\x80\x80", b"\xe2\x80\xa8", b"\xe2\x80", b"\xe2",
    b"\xff", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80", b"\x00", b"a", b"B", b"\xc3\x89",
    b"\xce\xa3", b"word",
]  # fmt: skip
BYTES = st.one_of(
    st.binary(max_size=40),
    st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join),
)


def test_the_table_of_unicode_spaces_is_pythons() -> None:
    scanned = [chr(c) for c in range(128, sys.maxunicode + 1) if chr(c).isspace()]
    assert scanned == UNICODE_SPACES


@given(data=BYTES, tokenizer=st.sampled_from(TOKENIZERS))
def test_fast_and_reference_counts_agree(data: bytes, tokenizer: Tokenizer) -> None:
    assert count_fast(data, tokenizer) == count_python(data, tokenizer)


@contextlib.contextmanager
def arrow_from(nbytes: int) -> Iterator[None]:
    """Tallies count with Arrow once the process has counted ``nbytes`` (0: at once)."""
    saved = count.ARROW_AFTER_BYTES
    count.ARROW_AFTER_BYTES = nbytes
    try:
        yield
    finally:
        count.ARROW_AFTER_BYTES = saved


ARROW_FROM = st.sampled_from([-1, 10, 1 << 40])  # Arrow always, after a few bytes, never


@given(
    blocks=st.lists(BYTES, max_size=5),
    tokenizer=st.sampled_from(TOKENIZERS),
    arrow=ARROW_FROM,
)
def test_a_tally_of_blocks_is_the_sum_of_their_counts(
    blocks: list[bytes], tokenizer: Tokenizer, arrow: int
) -> None:
    with arrow_from(arrow):
        _check_tally(blocks, tokenizer)


def _check_tally(blocks: list[bytes], tokenizer: Tokenizer) -> None:
    tally = Tally(tokenizer)
    expected: dict[bytes, int] = {}
    for block in blocks:
        tally.add(block)
        for word, n in count_python(block, tokenizer).items():
            expected[word] = expected.get(word, 0) + n
    assert dict(tally.items()) == expected
    assert len(tally.items()) == len(expected)


@given(
    blocks=st.lists(BYTES, max_size=5),
    tokenizer=st.sampled_from(TOKENIZERS),
    max_pairs=st.integers(1, 4),
    arrow=ARROW_FROM,
)
def test_packed_parts_hold_each_word_once_with_its_total(
    blocks: list[bytes], tokenizer: Tokenizer, max_pairs: int, arrow: int
) -> None:
    tally = Tally(tokenizer)
    with arrow_from(arrow):
        for block in blocks:
            tally.add(block)
    n_pairs, parts = tally.packed(max_pairs)
    flat = [item for part in parts for item in msgpack.unpackb(part, raw=True)]
    words, counts = flat[0::2], flat[1::2]
    assert len(words) == len(set(words)) == n_pairs
    assert all(len(msgpack.unpackb(part, raw=True)) <= 2 * max_pairs for part in parts) and parts
    assert dict(zip(words, counts, strict=True)) == dict(tally.items())


COUNTS = st.one_of(st.integers(1, 300), st.integers(1, 2**63 - 1))


@given(
    pairs=st.dictionaries(
        st.one_of(st.binary(min_size=1, max_size=40), st.binary(min_size=30, max_size=70_000)),
        COUNTS,
        max_size=20,
    )
)
def test_arrow_packing_is_msgpacks_byte_for_byte(pairs: dict[bytes, int]) -> None:
    words = pa.array(list(pairs), pa.large_binary())
    counts = pa.array(list(pairs.values()), pa.int64())
    flat = [item for pair in pairs.items() for item in pair]
    assert pack_columns(words, counts) == msgpack.packb(flat, use_bin_type=False)
