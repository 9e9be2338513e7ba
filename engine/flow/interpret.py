"""The serial interpreter: the reference the distributed run is checked against.

It is deliberately naive (one list of pairs, one operator at a time over all of it, no
partitions, no stages) so that it is obviously right; only the function registry is
shared with the distributed executor.
"""

from __future__ import annotations

from engine.flow.codec import Pair
from engine.flow.functions import MAP_FUNCTIONS, REDUCE_FUNCTIONS
from engine.flow.program import Operation, Program


def apply(op: Operation, pairs: list[Pair]) -> list[Pair]:
    """One operator over the whole dataset."""
    if op.operator == "map":
        f = MAP_FUNCTIONS[op.function]
        return [(k, f(v, op.arg or 0)) for k, v in pairs]
    if op.operator == "changeKey":
        f = MAP_FUNCTIONS[op.function]
        return [(f(v, op.arg or 0), v) for k, v in pairs]
    groups: dict[int, list[int]] = {}
    for k, v in pairs:
        groups.setdefault(k, []).append(v)
    reduce = REDUCE_FUNCTIONS[op.function]
    return [(k, reduce(values)) for k, values in groups.items()]


def interpret(program: Program, pairs: list[Pair]) -> list[Pair]:
    """The program's output, sorted by key then value."""
    for op in program.operations:
        pairs = apply(op, pairs)
    return sorted(pairs)
