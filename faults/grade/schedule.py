"""Fault schedules and datasets as data: what one graded run does, in exact JSON.

A fault fires at a protocol point, named from the process' side:
``worker#2.after:XREADGROUP#1`` is the moment the second process recognised as a worker
got the answer to its first XREADGROUP; ``client.before:XADD#3`` is the command's own
process about to send its third XADD. A process is a *worker* from its first
XREADGROUP, XAUTOCLAIM or XCLAIM on (the commands only a consumer sends), numbered in the
order they first send one; the command's own process is the *client*.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from faults.grade.options import GradeError, GradeOptions

Kind = Literal["crash", "stall", "slow", "hang", "redis-restart", "redis-wipe", "redis-pause"]
KINDS: tuple[Kind, ...] = (
    "crash", "stall", "slow", "hang", "redis-restart", "redis-wipe", "redis-pause",
)  # fmt: skip
_POINT = re.compile(r"^(client|worker#[1-9]\d*)\.(before|after):([A-Z_.]+)#([1-9]\d*)$")
_TIMED = re.compile(r"^child#([1-9]\d*)@(\d+)ms$")
"""``child#2@800ms``: the second process the command started, 800 ms after the start.
Needs no shim, so it applies to submissions in any language or with any client."""
WORKER_COMMANDS = frozenset({"XREADGROUP", "XAUTOCLAIM", "XCLAIM"})


@dataclasses.dataclass(frozen=True)
class Fault:
    """``do`` at ``at``; ``ms`` is a stall's, slowdown's, pause's or restart's length."""

    at: str
    do: Kind
    ms: int = 0

    def __post_init__(self) -> None:
        if not (_POINT.match(self.at) or _TIMED.match(self.at)):
            raise GradeError(
                f"fault point {self.at!r}: expected e.g. worker#2.after:XREADGROUP#1 "
                "or child#1@800ms"
            )
        if self.do not in KINDS:
            raise GradeError(f"fault action {self.do!r}: use one of {', '.join(KINDS)}")

    @property
    def timed(self) -> tuple[int, int] | None:
        """(child number, milliseconds after the start) of a time-based fault."""
        match = _TIMED.match(self.at)
        return (int(match.group(1)), int(match.group(2))) if match else None

    def __str__(self) -> str:
        return f"{self.at}:{self.do}" + (f"={self.ms}" if self.ms else "")


@dataclasses.dataclass(frozen=True)
class Example:
    """One run: the property it serves, its input files, its workers and its faults."""

    prop: str
    files: tuple[str, ...]
    workers: int
    faults: tuple[Fault, ...] = ()

    def size(self) -> tuple[int, ...]:
        """Smaller is simpler: fewer faults, files, words, workers."""
        words = sum(len(text.split()) for text in self.files)
        return (len(self.faults), len(self.files), words, self.workers)

    def to_data(self) -> dict[str, Any]:
        return {
            "prop": self.prop,
            "files": list(self.files),
            "workers": self.workers,
            "faults": [dataclasses.asdict(f) for f in self.faults],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Example:
        try:
            return cls(
                str(data["prop"]),
                tuple(str(t) for t in data["files"]),
                int(data["workers"]),
                tuple(Fault(**f) for f in data.get("faults", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GradeError(f"not a grading scenario: {exc}") from None


def save(path: str, submission: str, options: GradeOptions, example: Example) -> None:
    data = {
        "kind": "faults-grade",
        "submission": submission,
        "options": options.to_data(),
        "example": example.to_data(),
    }
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
    except OSError as exc:
        raise GradeError(f"cannot write {path}: {exc.strerror or exc}") from None


def load(path: str) -> tuple[str, GradeOptions, Example]:
    """(submission dir, options, example) of a saved scenario."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise GradeError(f"cannot read scenario {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != "faults-grade":
        raise GradeError(f'{path} is not a grading scenario (no "kind": "faults-grade")')
    options = GradeOptions.from_data(data["options"])
    return str(data["submission"]), options, Example.from_data(data["example"])
