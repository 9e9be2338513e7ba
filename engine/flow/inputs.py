"""Reading a program's input (CSV rows ``k,v`` of integers) and writing its output."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

from engine.errors import InputError
from engine.flow.codec import Pair

HEADER = ("k", "v")


def parse_pairs(text: str, where: str) -> list[Pair]:
    """Pairs from CSV text; blank lines are skipped, and a first row ``k,v`` is a header."""
    pairs: list[Pair] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or cells == [""]:
            continue
        if number == 1 and tuple(c.lower() for c in cells) == HEADER:
            continue
        if len(cells) != 2:
            raise InputError(
                f"{where} line {number}: {','.join(row)!r} has {len(cells)} fields; "
                "each row must be k,v (two integers)"
            )
        try:
            pairs.append((int(cells[0]), int(cells[1])))
        except ValueError:
            raise InputError(
                f"{where} line {number}: {','.join(row)!r} is not a pair of integers; "
                "each row must be k,v, e.g. 3,-7"
            ) from None
    return pairs


def read_pairs(path: str | Path) -> list[Pair]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f'input {path} does not exist: fix the program\'s "input" '
            "(relative to the program's folder) or pass --input FILE"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read input {path}: {exc}") from None
    return parse_pairs(text, str(path))


def sorted_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """The output order: by key, then value (a program without a final reduce may leave
    several pairs under one key)."""
    return sorted(pairs)


def format_pairs(pairs: Iterable[Pair]) -> str:
    return "".join(f"{k},{v}\n" for k, v in sorted_pairs(pairs))


def write_pairs(path: str | Path, pairs: Iterable[Pair]) -> None:
    try:
        Path(path).write_text(format_pairs(pairs), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
