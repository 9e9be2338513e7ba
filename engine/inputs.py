"""Finding the input files, splitting large ones into byte ranges, and reading their text.

Reading streams the file in blocks cut after a word-ending byte, so neither a 2 GB file
nor a large CSV ever sits whole in memory, and a worker can renew its claim on a task
between blocks.

A text file larger than the chunk size becomes several tasks, one per byte range, so that
every worker can share one big file. The ranges are cut just after a byte of
:data:`~engine.tokenize.SAFE_CUT_BYTES`, which ends a word under every tokenizer setting,
so no word is cut in two or counted twice. The cuts depend only on the file's bytes and
the chunk size: a driver that bootstraps the job again computes the same tasks.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from engine import csvrows
from engine.errors import ConfigError, InputError
from engine.tasks import InputKind, Task
from engine.tokenize import SAFE_CUT_BYTES, decode, encode

log = logging.getLogger("wordcount.inputs")
BLOCK_BYTES = 8 << 20
CSV_CHUNK_ROWS = 50_000
DEFAULT_CHUNK_BYTES = 16 << 20
"""The default of ``wordcount run --chunk-size``. A worker commits at most 64 MB of tasks
at once anyway (:class:`engine.worker.BatchLimits`), so chunks up to that size add no
commits, while smaller ones share a file among more workers and leave less to redo after a
crash. On a 200 MB file with 2 workers, 8 to 32 MB measured alike (about 3.2 s, against
3.6 s unsplit, on a quiet machine)."""
SCAN_BYTES = 64 << 10
"""How much is read at a time while looking for the next cut point."""


def expand_inputs(
    specs: Sequence[str], *, csv_column: str | None = None, chunk_bytes: int = 0
) -> list[Task]:
    """Turn paths, directories and globs into tasks in a stable order: one per file, or,
    with ``chunk_bytes`` > 0, one per range of about that many bytes of a text file.

    Every spec must match something: a typo should stop the job before it starts, not
    silently count less.
    """
    if chunk_bytes < 0:
        raise ConfigError(f"chunk size {chunk_bytes}: use 0 (never split) or a positive size")
    files: list[str] = []
    for spec in specs:
        files.extend(_expand_one(spec))
    unique = sorted(dict.fromkeys(os.path.abspath(f) for f in files))
    tasks: list[Task] = []
    for path in unique:
        whole = _task_for(len(tasks), path, csv_column)
        tasks.extend(_split(whole, chunk_bytes))
    return tasks


def _split(task: Task, chunk_bytes: int) -> list[Task]:
    """The task itself, or its byte ranges as consecutive tasks if it is a large text file."""
    if not splits(task.kind, task.size, chunk_bytes):
        return [task]
    try:
        with open(task.path, "rb") as handle:
            ranges = byte_ranges(handle, task.size, chunk_bytes)
    except OSError as exc:
        raise InputError(f"cannot read {task.path}: {exc.strerror or exc}") from exc
    if len(ranges) == 1:
        return [task]  # no safe cut point anywhere: the file is one task, as if unsplit
    return [
        dataclasses.replace(task, index=task.index + i, start=start, end=end, size=end - start)
        for i, (start, end) in enumerate(ranges)
    ]


def input_kind(path: str) -> InputKind:
    """How a file is read, by its name: ``.csv`` files as CSV, the rest as text."""
    return "csv" if path.lower().endswith(".csv") else "text"


def splits(kind: InputKind, size: int, chunk_bytes: int) -> bool:
    """Whether a file is worth looking at for cut points. A CSV file never is: a byte
    range of one is not a CSV file (its header and quoting belong to the whole)."""
    return kind == "text" and 0 < chunk_bytes < size


def byte_ranges(handle: BinaryIO, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` ranges covering ``size`` bytes of ``handle``, each at
    least ``chunk_bytes`` long (but the last), each ending just after a safe cut byte (but
    the last, which ends at ``size``).

    A range starting at ``s`` ends after the first safe byte at or beyond
    ``s + chunk_bytes - 1``; a stretch without one simply makes the range longer.
    """
    if chunk_bytes < 1:
        raise ConfigError(f"chunk size {chunk_bytes}: byte ranges need a positive size")
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < size:
        cut = _next_cut(handle, start + chunk_bytes - 1, size)
        end = size if cut < 0 else cut + 1
        ranges.append((start, end))
        start = end
    return ranges


def _next_cut(handle: BinaryIO, position: int, size: int) -> int:
    """The offset of the first safe cut byte at or after ``position``, or -1 if none."""
    handle.seek(position)
    while position < size:
        block = handle.read(min(SCAN_BYTES, size - position))
        if not block:
            return -1
        found = [i for i in (block.find(bytes([b])) for b in SAFE_CUT_BYTES) if i >= 0]
        if found:
            return position + min(found)
        position += len(block)
    return -1


def _expand_one(spec: str) -> list[str]:
    if glob.has_magic(spec):
        found = [Path(m) for m in glob.glob(spec, recursive=True)]
        _warn_not_files(found)
        matches = [str(m) for m in found if m.is_file()]
        if not matches:
            raise InputError(f"no files match {spec!r}: check the pattern (quote it for the shell)")
        return matches
    path = Path(spec)
    if path.is_dir():
        found = [p for p in sorted(path.rglob("*")) if not _hidden(p, path)]
        _warn_not_files(found)
        return [str(p) for p in found if p.is_file()]
    if path.is_file():
        return [str(path)]
    if path.exists():
        raise InputError(f"{spec}: not a regular file or directory")
    raise InputError(f"{spec}: no such file or directory")


def _warn_not_files(found: Sequence[Path]) -> None:
    """One warning line per entry that is neither a file nor a directory: skipping it
    silently would count less than the user thinks."""
    for skipped in (p for p in found if not p.is_file() and not p.is_dir()):
        log.warning("warning: skipping %s: %s", skipped, _not_a_file(skipped))


def _not_a_file(path: Path) -> str:
    """Why an entry of a directory is not counted, in words."""
    if path.is_symlink() and not path.exists():
        return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    if path.is_fifo():
        return "a named pipe (FIFO), not a regular file"
    if path.is_socket():
        return "a socket, not a regular file"
    return "not a regular file (a device?)"


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _task_for(index: int, path: str, csv_column: str | None) -> Task:
    kind = input_kind(path)
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
    """The column's cells, :data:`CSV_CHUNK_ROWS` rows at a time, joined by line breaks.

    Read with the strict ``csv`` parser, like the serial reference, so that both refuse the
    same malformed rows with the same message (:mod:`engine.csvrows`)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        records = csv_records(path, csv.reader(handle, strict=True))
        first = next(records, None)
        if first is None:
            return
        header = first[2]
        if column not in header:
            raise InputError(f"{path}: no column {column!r}; its columns are {', '.join(header)}")
        at, width = header.index(column), len(header)
        cells: list[str] = []
        for row, line, fields in records:
            if len(fields) > width:
                raise csvrows.too_many_fields(path, row, line, len(fields), width)
            cells.append(fields[at] if at < len(fields) else "")
            if len(cells) == CSV_CHUNK_ROWS:
                yield "\n".join(cells)
                cells = []
        if cells:
            yield "\n".join(cells)


def csv_records(path: str, reader: Any) -> Iterator[tuple[int, int, list[str]]]:
    """Non-blank records as (row, line, fields): row 0 is the header, line is where the
    record starts. A parse error becomes :class:`~engine.csvrows.MalformedCsvError`."""
    row, line = 0, 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise csvrows.parse_failure(path, row, line, exc) from None
        if fields:
            yield row, line, fields
            row += 1
        line = reader.line_num + 1
