"""Finding the input files and reading their text, for workers and the serial counter.

Reading streams the file in blocks cut after a word-ending byte, so neither a 2 GB file
nor a large CSV ever sits whole in memory, and a worker can renew its claim on a task
between blocks.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.errors import InputError
from engine.tasks import InputKind, Task
from engine.tokenize import SAFE_CUT_BYTES, decode, encode

BLOCK_BYTES = 8 << 20
CSV_CHUNK_ROWS = 50_000


def expand_inputs(specs: Sequence[str], *, csv_column: str | None = None) -> list[Task]:
    """Turn paths, directories and globs into tasks, one per file, in a stable order.

    Every spec must match something: a typo should stop the job before it starts, not
    silently count less.
    """
    files: list[str] = []
    for spec in specs:
        files.extend(_expand_one(spec))
    unique = sorted(dict.fromkeys(os.path.abspath(f) for f in files))
    return [_task_for(index, path, csv_column) for index, path in enumerate(unique)]


def _expand_one(spec: str) -> list[str]:
    if glob.has_magic(spec):
        matches = [m for m in glob.glob(spec, recursive=True) if os.path.isfile(m)]
        if not matches:
            raise InputError(f"no files match {spec!r}: check the pattern (quote it for the shell)")
        return matches
    path = Path(spec)
    if path.is_dir():
        return [str(p) for p in sorted(path.rglob("*")) if p.is_file() and not _hidden(p, path)]
    if path.is_file():
        return [str(path)]
    if path.exists():
        raise InputError(f"{spec}: not a regular file or directory")
    raise InputError(f"{spec}: no such file or directory")


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _task_for(index: int, path: str, csv_column: str | None) -> Task:
    kind: InputKind = "csv" if path.lower().endswith(".csv") else "text"
    if kind == "csv" and not csv_column:
        raise InputError(f"{path} is a CSV file: name its text column with --csv-column COLUMN")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    column = (csv_column or "") if kind == "csv" else ""
    return Task(index, path, kind, column, size=size)


def iter_blocks(task: Task, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The bytes of a task in blocks that each end at a word boundary.

    A CSV task yields the text of its column, cells separated by line breaks, encoded
    back to the input's bytes.
    """
    try:
        if task.kind == "csv":
            yield from (encode(text) for text in _iter_csv(task.path, task.column))
        else:
            yield from _iter_text(task.path, task.start, task.end, block_bytes)
    except OSError as exc:
        raise InputError(f"cannot read {task.path}: {exc.strerror or exc}") from exc


def iter_texts(task: Task, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """The text of a task in pieces that each end at a word boundary."""
    return (decode(block) for block in iter_blocks(task, block_bytes))


def _iter_text(path: str, start: int, end: int, block_bytes: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = -1 if end < 0 else end - start
        carry = b""
        while remaining != 0:
            want = block_bytes if remaining < 0 else min(block_bytes, remaining)
            block = handle.read(want)
            if not block:
                break
            if remaining > 0:
                remaining -= len(block)
            cut = _last_cut(block)
            if cut < 0:
                carry += block
                continue
            yield carry + block[: cut + 1]
            carry = block[cut + 1 :]
        if carry:
            yield carry


def _last_cut(block: bytes) -> int:
    return max(block.rfind(bytes([byte])) for byte in SAFE_CUT_BYTES)


def _iter_csv(path: str, column: str) -> Iterator[str]:
    import pandas as pd  # deferred: only CSV inputs pay for importing pandas

    try:
        reader = pd.read_csv(
            path,
            usecols=[column],
            dtype=object,  # not str: pandas 3 stores str in Arrow, which refuses surrogates
            na_filter=False,
            chunksize=CSV_CHUNK_ROWS,
            encoding="utf-8",
            encoding_errors="surrogateescape",
        )
    except pd.errors.EmptyDataError:  # a ValueError too: must come first
        return
    except ValueError as exc:
        raise InputError(f"{path}: no column {column!r} ({exc})") from exc
    with reader:
        for chunk in reader:
            yield "\n".join(chunk[column].tolist())
