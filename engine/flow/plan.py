"""Cutting a program into stages, and which partition a key belongs to.

Data enters every stage partitioned by key (``partition_of``), so a reduce sees all the
values of its keys in one partition as long as no changeKey came before it in the stage.
A reduce after a changeKey therefore starts a new stage: the previous stage's output is
re-partitioned by its new keys first. Map and changeKey never need a cut.
"""

from __future__ import annotations

import zlib

from engine.flow.program import Operation, Program

Stage = tuple[Operation, ...]


def plan_stages(program: Program) -> list[Stage]:
    """At least one stage (an empty program copies its input)."""
    stages: list[list[Operation]] = [[]]
    key_changed = False
    for op in program.operations:
        if op.operator == "reduce" and key_changed:
            stages.append([])
            key_changed = False
        if op.operator == "changeKey":
            key_changed = True
        stages[-1].append(op)
    return [tuple(stage) for stage in stages]


def partition_of(key: int, partitions: int) -> int:
    """A stable hash (CRC-32 of the decimal key), unlike Python's salted ``hash()``, so
    every process on every host agrees."""
    return zlib.crc32(str(key).encode()) % partitions


def split(pairs: list[tuple[int, int]], partitions: int) -> list[list[tuple[int, int]]]:
    parts: list[list[tuple[int, int]]] = [[] for _ in range(partitions)]
    for pair in pairs:
        parts[partition_of(pair[0], partitions)].append(pair)
    return parts
