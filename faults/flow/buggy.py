"""Executors with the four defects of the public dataflow implementation, one each.

Select one for a run with ``$WORDCOUNT_FLOW_EXECUTOR=faults.flow.buggy:NAME`` (the fault
runner's ``executor=``); ``tests/test_flow_teeth.py`` asserts the property catches each.
"""

from __future__ import annotations

from engine.flow.codec import Pair
from engine.flow.execute import Executor
from engine.flow.functions import MapFunction
from engine.flow.plan import Stage


class ChangeKeyFromKey(Executor):
    """changeKey computes the new key from the old key instead of from the value."""

    def map_pairs(self, operator: str, f: MapFunction, arg: int, pairs: list[Pair]) -> list[Pair]:
        if operator == "changeKey":
            return [(f(k, arg), v) for k, v in pairs]
        return super().map_pairs(operator, f, arg, pairs)


class NoRepartition(Executor):
    """Output stays in its partition after a key change: a later reduce sees only part of
    a key's values."""

    def route(self, pairs: list[Pair], partitions: int, source: int) -> list[list[Pair]]:
        routed: list[list[Pair]] = [[] for _ in range(partitions)]
        routed[source] = list(pairs)
        return routed


class ReduceSubDivEmpty(Executor):
    """A reduce with SUB (or DIV) silently returns nothing."""

    def reduce(self, function: str, pairs: list[Pair]) -> list[Pair]:
        if function in ("SUB", "DIV"):
            return []
        return super().reduce(function, pairs)


class RecoveryRepeatsLast(Executor):
    """A task recovered from a failed worker applies the stage's last operator twice."""

    def run(self, stage: Stage, pairs: list[Pair], *, recovered: bool) -> list[Pair]:
        if recovered and stage:
            stage = (*stage, stage[-1])
        return super().run(stage, pairs, recovered=recovered)


VARIANTS = {
    "change_key_from_key": ChangeKeyFromKey,
    "no_repartition": NoRepartition,
    "reduce_sub_empty": ReduceSubDivEmpty,
    "recovery_repeats_last": RecoveryRepeatsLast,
}


def change_key_from_key() -> Executor:
    return ChangeKeyFromKey()


def no_repartition() -> Executor:
    return NoRepartition()


def reduce_sub_empty() -> Executor:
    return ReduceSubDivEmpty()


def recovery_repeats_last() -> Executor:
    return RecoveryRepeatsLast()
