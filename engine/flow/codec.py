"""Pairs as they travel and rest in Redis: one msgpack array of decimal strings.

Decimal strings keep integers of any size exact (msgpack and Lua numbers stop at 64 bits),
and Redis never needs to read them: the Lua functions store and move them as blobs.
"""

from __future__ import annotations

import sys

import msgpack

Pair = tuple[int, int]

# Exact integers of any length: a product of large sums may have more digits than
# Python's default limit on int <-> str conversion (4,300).
sys.set_int_max_str_digits(0)


def pack(pairs: list[Pair]) -> bytes:
    flat: list[str] = []
    for key, value in pairs:
        flat += [str(key), str(value)]
    return msgpack.packb(flat, use_bin_type=False)  # type: ignore[no-any-return]


def unpack(blob: bytes) -> list[Pair]:
    flat = msgpack.unpackb(blob, raw=False)
    return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
