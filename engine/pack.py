"""Words and counts packed as the msgpack array ``[w1, c1, w2, c2, ...]`` that the Redis
functions take (``engine/wordcount.lua``).

:func:`pack_pairs` packs Python pairs with msgpack. :func:`pack_columns` packs a tally's
Arrow columns to the same bytes without making a Python object per word: with a large
vocabulary, converting Arrow's counts to Python lists and packing them cost as much as the
counting itself. It writes every element's msgpack header with numpy and lets Arrow
concatenate headers, words and counts in C; ``tests/test_count.py`` checks its output
against ``msgpack.packb`` byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack


def pack_pairs(pairs: Sequence[tuple[bytes, int]]) -> bytes:
    """Words and counts as one msgpack array, the form the functions take."""
    flat: list[bytes | int] = []
    for word, count in pairs:
        flat += (word, count)
    return msgpack.packb(flat, use_bin_type=False)  # type: ignore[no-any-return]


def array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items (as msgpack.packb writes it)."""
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def pack_columns(words: Any, counts: Any) -> bytes:
    """``pack_pairs(zip(words, counts))`` for an Arrow large_binary array of words and an
    int64 array of positive counts, without Python objects per word."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(words) == 0:
        return array_header(0)
    lengths = pc.binary_length(words).to_numpy()
    heads = _str_heads(lengths)
    tails = _uint_items(counts.to_numpy(zero_copy_only=False))
    empty = pa.scalar(b"", pa.large_binary())
    body = pc.binary_join_element_wise(heads, words.cast(pa.large_binary()), tails, empty)
    data = _data(body)
    return array_header(2 * len(words)) + data


def _str_heads(lengths: Any) -> Any:
    """Headers of msgpack raw strings (``use_bin_type=False``: fixstr, str16, str32)."""
    import numpy as np

    marker = np.where(lengths < 32, 0xA0 | lengths, np.where(lengths < 1 << 16, 0xDA, 0xDB))
    width = np.where(lengths < 32, 0, np.where(lengths < 1 << 16, 2, 4))
    return _marked(marker, width, lengths)


def _uint_items(values: Any) -> Any:
    """Positive integers as msgpack writes them: fixint, then uint 8, 16, 32 or 64."""
    import numpy as np

    marker = np.select(
        [values < 128, values < 1 << 8, values < 1 << 16, values < 1 << 32],
        [values, 0xCC, 0xCD, 0xCE],
        0xCF,
    )
    width = np.select(
        [values < 128, values < 1 << 8, values < 1 << 16, values < 1 << 32], [0, 1, 2, 4], 8
    )
    return _marked(marker, width, values)


def _marked(marker: Any, width: Any, values: Any) -> Any:
    """An Arrow large_binary array whose item i is byte ``marker[i]`` followed by
    ``values[i]`` as a big-endian integer of ``width[i]`` bytes."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(marker) + 1, np.int64)
    np.cumsum(width + 1, out=offsets[1:])
    data = np.zeros(int(offsets[-1]), np.uint8)
    starts = offsets[:-1]
    data[starts] = marker.astype(np.uint8)
    unsigned = values.astype(np.uint64)
    for size in (1, 2, 4, 8):
        chosen = width == size
        if not chosen.any():
            continue
        at, value = starts[chosen], unsigned[chosen]
        for k in range(size):
            shift = np.uint64(8 * (size - 1 - k))
            data[at + 1 + k] = ((value >> shift) & np.uint64(0xFF)).astype(np.uint8)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_binary(), len(marker), buffers)


def _data(array: Any) -> bytes:
    """The concatenated bytes of a large_binary array made by a kernel (no nulls)."""
    import numpy as np

    offsets = np.frombuffer(array.buffers()[1], np.int64)
    first, last = offsets[array.offset], offsets[array.offset + len(array)]
    return array.buffers()[2][int(first) : int(last)].to_pybytes()  # type: ignore[no-any-return]
