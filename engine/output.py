"""Writing counts to a file (CSV or JSON, by extension) and to the terminal.

Words are written back as the exact bytes they had in the input (see
:mod:`engine.tokenize`): CSV files carry them raw; JSON escapes them (``\\udcff``), which
``json.load`` in Python reads back unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from engine.errors import ConfigError
from engine.serial import ranked
from engine.tokenize import ENCODING, ERRORS


def check_output(path: str | Path) -> None:
    """Refuse an output file that could not be written, before any counting starts: a
    wrong name, a missing or unwritable directory. Creating and deleting a probe file is
    the only test that also holds for root, read-only mounts and odd file systems."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--output {path}: use a .csv or .json file name")
    if path.is_dir():
        raise ConfigError(f"--output {path} is a directory: give a file name inside it")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"--output {path}: directory {folder} does not exist; create it first")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--output {path}: cannot create files in {folder} ({exc.strerror or exc}); "
            "choose a directory you can write to"
        ) from exc


def write_counts(path: str | Path, counts: Mapping[str, int]) -> None:
    """Write all counts, most frequent first; atomically, so a crash leaves no half file,
    and a failure (a full disk) leaves no temporary file either."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ConfigError(f"--output {path}: use a .csv or .json file name")
    rows = ranked(dict(counts))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if suffix == ".csv":
            with open(tmp, "w", encoding=ENCODING, errors=ERRORS, newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["word", "count"])
                writer.writerows(rows)
        else:
            with open(tmp, "w", encoding="ascii") as handle:
                json.dump(dict(rows), handle, ensure_ascii=True, indent=0)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def read_counts_file(path: str | Path) -> dict[str, int]:
    """Read a file written by :func:`write_counts` (for tests and comparisons)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        with open(path, encoding="ascii") as handle:
            return {word: int(n) for word, n in json.load(handle).items()}
    with open(path, encoding=ENCODING, errors=ERRORS, newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return {word: int(n) for word, n in reader}


def format_top(rows: list[tuple[str, int]]) -> str:
    """A right-aligned table of words and counts, safe to print to any terminal."""
    if not rows:
        return "(no words)"
    width = max(len(str(n)) for _, n in rows)
    lines = []
    for word, n in rows:
        shown = word.encode(ENCODING, ERRORS).decode(ENCODING, "backslashreplace")
        lines.append(f"{n:>{width}}  {shown}")
    return "\n".join(lines)
