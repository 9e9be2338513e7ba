"""Intermediate partition files: ``mr-<map>-<partition>`` in the job's directory.

A file holds one map task's (word, count) pairs of one partition, sorted by nothing but
always in the same order for the same input, in a raw little-endian layout that Arrow maps
without copying: magic, pair count, int64 offsets, int64 counts, then the words' bytes.
Writing goes to a temporary name, is fsynced, then renamed: a reader sees a whole file or
none, and a re-executed map task renames the very same bytes over its earlier output.
Each file's size and CRC-32 go into the map's commit record, so a reducer can tell a lost
or damaged file from a good one.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import secrets
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import WordCountError

MAGIC = b"WCMR0001"
HEADER = len(MAGIC) + 8


class IntermediateError(WordCountError):
    """The intermediate directory cannot be written (full disk, permissions)."""


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """What a map commit records about one partition file."""

    size: int
    crc: int

    def text(self) -> str:
        return f"{self.size}:{self.crc}"


def file_name(map_index: int, partition: int) -> str:
    return f"mr-{map_index}-{partition}"


def encode(words: Any, counts: Any) -> list[bytes | memoryview]:
    """The file's bytes, as pieces (no copy of the words): ``words`` an Arrow
    large_binary array without nulls, ``counts`` an int64 numpy array."""
    import numpy as np  # here: the driver of a stream job imports this module too

    n = len(words)
    offsets = np.frombuffer(words.buffers()[1], np.int64)[words.offset : words.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(words.buffers()[2])[start:end] if n else memoryview(b"")
    rebased = (offsets - start).astype("<i8").tobytes()
    return [MAGIC + n.to_bytes(8, "little"), rebased, np.asarray(counts, "<i8").tobytes(), data]


def decode(raw: bytes) -> tuple[Any, Any]:
    """(words, counts) of a file's bytes, as Arrow arrays sharing ``raw``'s memory."""
    import pyarrow as pa

    if raw[: len(MAGIC)] != MAGIC:
        raise ValueError("not a partition file")
    n = int.from_bytes(raw[len(MAGIC) : HEADER], "little")
    buf = pa.py_buffer(raw)
    offsets = buf.slice(HEADER, 8 * (n + 1))
    counts = buf.slice(HEADER + 8 * (n + 1), 8 * n)
    data = buf.slice(HEADER + 16 * n + 8)
    words = pa.Array.from_buffers(pa.large_binary(), n, [None, offsets, data])
    return words, pa.Array.from_buffers(pa.int64(), n, [None, counts])


def write_all(
    directory: Path,
    map_index: int,
    parts: Sequence[list[bytes | memoryview]],
    after_temp: Callable[[], None] = lambda: None,
) -> list[FileRecord]:
    """Write each partition to a temporary name, fsync, then rename it into place.

    ``after_temp`` runs once the first temporary file is written and before any rename
    (the ``map.mid_write`` crash point). A full disk raises :class:`IntermediateError`
    after removing what it wrote, so nothing half-written is ever left under a real name.
    """
    temps: list[Path] = []
    records: list[FileRecord] = []
    try:
        for p, pieces in enumerate(parts):
            temp = directory / f".{file_name(map_index, p)}.{os.getpid()}.{secrets.token_hex(3)}"
            temps.append(temp)
            records.append(_write_synced(temp, pieces))
            if p == 0:
                after_temp()
        for p, temp in enumerate(temps):
            os.replace(temp, directory / file_name(map_index, p))
        _sync_dir(directory)
    except OSError as exc:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise _explain(exc, directory) from exc
    return records


def _write_synced(path: Path, pieces: list[bytes | memoryview]) -> FileRecord:
    crc, size = 0, 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for piece in pieces:
            view = memoryview(piece).cast("B")
            crc = zlib.crc32(view, crc)
            size += len(view)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return FileRecord(size, crc)


def _sync_dir(directory: Path) -> None:
    """Make the renames durable too (a crash of the host must not undo them)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _explain(exc: OSError, directory: Path) -> IntermediateError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return IntermediateError(
            f"no space left on the device of the intermediate directory {directory}: free "
            "some space or choose another with --intermediate DIR (nothing was lost: the "
            "map task is still pending and runs again)"
        )
    return IntermediateError(
        f"cannot write to the intermediate directory {directory}: "
        f"{exc.strerror or exc}; choose a writable one with --intermediate DIR"
    )


def read_checked(path: Path, record: FileRecord) -> bytes | None:
    """The file's bytes if it exists with the recorded size and checksum, else ``None``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(record.size + 1)
    except FileNotFoundError:
        return None
    if len(raw) != record.size or zlib.crc32(raw) != record.crc:
        return None
    return raw


def prepare(directory: Path) -> None:
    """Create the job's intermediate directory, or say clearly why it cannot be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe.{os.getpid()}.{secrets.token_hex(3)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _explain(exc, directory) from exc


def remove(directory: Path) -> None:
    """Delete the job's intermediate directory (at the end of the job)."""
    shutil.rmtree(directory, ignore_errors=True)
