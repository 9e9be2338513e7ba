"""Running one stage over one partition: what a flow task does between read and commit.

This is the distributed side's own code, separate from the serial interpreter it is
checked against. Methods of :class:`Executor` are the seams the known-buggy variants
(``faults/flow/buggy.py``) override.
"""

from __future__ import annotations

from engine.flow.codec import Pair
from engine.flow.functions import MAP_FUNCTIONS, REDUCE_FUNCTIONS, MapFunction
from engine.flow.plan import Stage, split


class Executor:
    """Applies a stage's operators to a partition's pairs and routes the output."""

    def run(self, stage: Stage, pairs: list[Pair], *, recovered: bool) -> list[Pair]:
        """``recovered``: the task was stolen from a worker that stalled or died (the real
        executor does the same either way; a buggy one did not)."""
        for op in stage:
            if op.operator == "reduce":
                pairs = self.reduce(op.function, pairs)
            else:
                f, arg = MAP_FUNCTIONS[op.function], op.arg or 0
                pairs = self.map_pairs(op.operator, f, arg, pairs)
        return pairs

    def map_pairs(self, operator: str, f: MapFunction, arg: int, pairs: list[Pair]) -> list[Pair]:
        if operator == "changeKey":
            return [(f(v, arg), v) for _, v in pairs]
        return [(k, f(v, arg)) for k, v in pairs]

    def reduce(self, function: str, pairs: list[Pair]) -> list[Pair]:
        groups: dict[int, list[int]] = {}
        for k, v in pairs:
            groups.setdefault(k, []).append(v)
        f = REDUCE_FUNCTIONS[function]
        return [(k, f(values)) for k, values in groups.items()]

    def route(self, pairs: list[Pair], partitions: int, source: int) -> list[list[Pair]]:
        """The output of partition ``source`` split by the next stage's partitions."""
        return split(pairs, partitions)
