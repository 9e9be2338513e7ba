"""The fixed registry of functions a program may name: never ``eval``, never user code.

Map and changeKey functions take a value and the operation's ``arg``; reduce functions
take all the values of one key. Python integers are exact at any size, and DIV and MOD
are Python's ``//`` and ``%`` (floor division; the remainder has the divisor's sign).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence

MapFunction = Callable[[int, int], int]
ReduceFunction = Callable[[Sequence[int]], int]

MAP_FUNCTIONS: dict[str, MapFunction] = {
    "ADD": lambda v, a: v + a,
    "SUB": lambda v, a: v - a,
    "MUL": lambda v, a: v * a,
    "DIV": lambda v, a: v // a,
    "MOD": lambda v, a: v % a,
    "NEG": lambda v, a: -v,
    "IDENTITY": lambda v, a: v,
}
TAKES_ARG = frozenset({"ADD", "SUB", "MUL", "DIV", "MOD"})
"""Map functions whose ``arg`` is required (the others accept an integer and ignore it)."""
NONZERO_ARG = frozenset({"DIV", "MOD"})


def _sub(values: Sequence[int]) -> int:
    """Left fold of subtraction over the values in ascending order: the order in which
    values of a key reach a partition depends on which worker finished first, so the only
    deterministic order is a canonical one."""
    ordered = sorted(values)
    return functools.reduce(operator.sub, ordered[1:], ordered[0])


REDUCE_FUNCTIONS: dict[str, ReduceFunction] = {
    "SUM": sum,
    "PRODUCT": lambda values: functools.reduce(operator.mul, values, 1),
    "MIN": min,
    "MAX": max,
    "COUNT": len,
    "SUB": _sub,
}
REDUCE_ALIASES = {"ADD": "SUM", "MUL": "PRODUCT"}
REFUSED_REDUCE = {
    "DIV": "a reduce with DIV would divide by a value of the data, which may be zero, and "
    "its result would depend on an order the partitions do not keep",
    "MOD": "a reduce with MOD would divide by a value of the data, which may be zero",
}


def reduce_name(name: str) -> str:
    """The canonical name of a reduce function (``ADD`` is ``SUM``, ``MUL`` is ``PRODUCT``)."""
    return REDUCE_ALIASES.get(name, name)
