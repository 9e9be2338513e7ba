"""The serial reference count: the oracle every test compares the engine against.

It is deliberately naive: it reads each file whole, in one piece, with the standard
library only (``csv``, no blocks, no Redis), so that it shares nothing with the engine but
the tokenizer, the list of files, and what makes a CSV row malformed (:mod:`engine.csvrows`:
both refuse the same files with the same message).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable

from engine import csvrows
from engine.errors import InputError
from engine.tasks import Task
from engine.tokenize import Tokenizer, decode, encode


def count_task(task: Task, tokenizer: Tokenizer) -> Counter[str]:
    """The words of one task, read whole."""
    try:
        with open(task.path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read {task.path}: {exc.strerror or exc}") from exc
    if task.kind == "csv":
        return tokenizer.count(_csv_cells(decode(data), task))
    end = len(data) if task.end < 0 else task.end
    return tokenizer.count([decode(data[task.start : end])])


def _csv_cells(text: str, task: Task) -> list[str]:
    """The column's cells; a malformed row fails the file as it does in the workers."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    cells: list[str] = []
    row, line = 0, 1
    try:
        for fields in reader:
            if fields and header is None:
                header = fields
                if task.column not in header:
                    raise InputError(f"{task.path}: no column {task.column!r}")
            elif fields:
                row += 1
                if len(fields) > len(header or ()):
                    raise csvrows.too_many_fields(
                        task.path, row, line, len(fields), len(header or ())
                    )
                at = header.index(task.column)  # type: ignore[union-attr]
                cells.append(fields[at] if at < len(fields) else "")
            line = reader.line_num + 1
    except csv.Error as exc:
        raise csvrows.parse_failure(task.path, row + (header is not None), line, exc) from None
    return cells


def count_tasks(tasks: Iterable[Task], tokenizer: Tokenizer) -> Counter[str]:
    """The words of all tasks together."""
    total: Counter[str] = Counter()
    for task in tasks:
        total.update(count_task(task, tokenizer))
    return total


def ranked(counts: Counter[str] | dict[str, int]) -> list[tuple[str, int]]:
    """Words by count, highest first; ties by the word's bytes, so every tool agrees."""
    return sorted(counts.items(), key=lambda item: (-item[1], encode(item[0])))
