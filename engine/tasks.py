"""A task: one input (or one byte range of it) to count, and its form in the stream."""

from __future__ import annotations

import dataclasses
from typing import Literal

InputKind = Literal["text", "csv"]


@dataclasses.dataclass(frozen=True)
class Task:
    """What a worker needs to count one piece of input, and nothing about the job.

    ``start``/``end`` delimit a byte range of a text file (``end`` is exclusive; ``-1``
    means to the end of the file), so a later split of large files needs no new format.
    """

    index: int
    path: str
    kind: InputKind = "text"
    column: str = ""
    start: int = 0
    end: int = -1
    size: int = 0

    @property
    def entry_id(self) -> str:
        """The stream entry ID, derived from the index so that bootstrapping is idempotent."""
        return f"{self.index + 1}-0"

    def to_fields(self) -> dict[str, str]:
        return {
            "index": str(self.index),
            "path": self.path,
            "kind": self.kind,
            "column": self.column,
            "start": str(self.start),
            "end": str(self.end),
            "size": str(self.size),
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes] | dict[str, str]) -> Task:
        text = {_str(k): _str(v) for k, v in fields.items()}
        kind = text.get("kind", "text")
        if kind not in ("text", "csv"):
            raise ValueError(f"unknown task kind {kind!r}")
        return cls(
            index=int(text["index"]),
            path=text["path"],
            kind=kind,  # type: ignore[arg-type]
            column=text.get("column", ""),
            start=int(text.get("start", "0")),
            end=int(text.get("end", "-1")),
            size=int(text.get("size", "0")),
        )

    def describe(self) -> str:
        """A short human name for messages: the path, with the range if it is one."""
        if self.start == 0 and self.end == -1:
            return self.path
        return f"{self.path}[{self.start}:{self.end}]"


def _str(value: bytes | str) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
