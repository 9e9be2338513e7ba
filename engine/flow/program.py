"""A dataflow program as data, and its validation before anything runs.

Every problem is reported with the JSON path of the bad value and what is allowed there,
e.g. ``$.operations[2].function: 'POW' is not a map function; use one of ADD, ...``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.flow.functions import (
    MAP_FUNCTIONS,
    NONZERO_ARG,
    REDUCE_ALIASES,
    REDUCE_FUNCTIONS,
    REFUSED_REDUCE,
    TAKES_ARG,
    reduce_name,
)

OPERATORS = ("map", "changeKey", "reduce")
MAX_PARTITIONS = 1024
_KNOWN_FIELDS = {"partitions", "input", "operations"}
_OPERATION_FIELDS = {"operator", "function", "arg"}


class ProgramError(ConfigError):
    """A program that cannot run; the message starts with the JSON path of the problem."""


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operator with its function (canonical name) and argument (``None``: none)."""

    operator: str
    function: str
    arg: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"operator": self.operator, "function": self.function}
        if self.arg is not None:
            data["arg"] = self.arg
        return data


@dataclasses.dataclass(frozen=True)
class Program:
    partitions: int
    operations: tuple[Operation, ...] = ()
    input: str | None = None

    def to_json(self) -> str:
        """Canonical JSON of what the run computes (the input path is not part of it)."""
        data = {
            "partitions": self.partitions,
            "operations": [op.to_dict() for op in self.operations],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _fail(path: str, message: str) -> ProgramError:
    return ProgramError(f"{path}: {message}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_operation(raw: object, path: str) -> Operation:
    if not isinstance(raw, dict):
        raise _fail(path, f'{raw!r} is not an object; write {{"operator": ..., "function": ...}}')
    extra = sorted(set(raw) - _OPERATION_FIELDS)
    if extra:
        raise _fail(f"{path}.{extra[0]}", "unknown field; allowed: operator, function, arg")
    op = raw.get("operator")
    if op not in OPERATORS:
        raise _fail(
            f"{path}.operator", f"{op!r} is not an operator; use one of {', '.join(OPERATORS)}"
        )
    function = raw.get("function")
    if not isinstance(function, str):
        raise _fail(f"{path}.function", f"{function!r} is not a function name")
    arg = raw.get("arg")
    if "arg" in raw and not _is_int(arg):
        raise _fail(f"{path}.arg", f"{arg!r} is not an integer")
    if op == "reduce":
        return _reduce(function, arg, path)
    if function not in MAP_FUNCTIONS:
        raise _fail(
            f"{path}.function",
            f"{function!r} is not a {op} function; use one of {', '.join(MAP_FUNCTIONS)}",
        )
    if function in TAKES_ARG and arg is None:
        raise _fail(f"{path}.arg", f"missing: {function} needs an integer arg")
    if function in NONZERO_ARG and arg == 0:
        raise _fail(f"{path}.arg", f"0: {function} divides by its arg; use a non-zero integer")
    return Operation(op, function, arg if function in TAKES_ARG else None)


def _reduce(function: str, arg: object, path: str) -> Operation:
    if function in REFUSED_REDUCE:
        raise _fail(f"{path}.function", f"reduce {function} is refused: {REFUSED_REDUCE[function]}")
    name = reduce_name(function)
    if name not in REDUCE_FUNCTIONS:
        allowed = ", ".join([*REDUCE_FUNCTIONS, *REDUCE_ALIASES])
        raise _fail(
            f"{path}.function", f"{function!r} is not a reduce function; use one of {allowed}"
        )
    return Operation("reduce", name, None)


def parse_program(raw: object) -> Program:
    """Validate a decoded JSON document; raises :class:`ProgramError`."""
    if not isinstance(raw, dict):
        raise _fail("$", "the program must be a JSON object with partitions and operations")
    extra = sorted(set(raw) - _KNOWN_FIELDS)
    if extra:
        raise _fail(f"$.{extra[0]}", "unknown field; allowed: partitions, input, operations")
    partitions = raw.get("partitions")
    if not _is_int(partitions) or not 1 <= partitions <= MAX_PARTITIONS:  # type: ignore[operator]
        raise _fail("$.partitions", f"{partitions!r}: use an integer from 1 to {MAX_PARTITIONS}")
    source = raw.get("input")
    if source is not None and (not isinstance(source, str) or not source):
        raise _fail("$.input", f"{source!r}: use the path of a CSV file of k,v rows")
    operations = raw.get("operations", [])
    if not isinstance(operations, list):
        raise _fail("$.operations", f"{operations!r} is not a list of operations")
    ops = tuple(parse_operation(o, f"$.operations[{i}]") for i, o in enumerate(operations))
    return Program(int(partitions), ops, source)  # type: ignore[arg-type]


def load_program(path: str | Path) -> Program:
    """Read and validate a program file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProgramError(f"{path}: cannot read the program ({exc.strerror or exc})") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProgramError(f"{path}: not valid JSON ({exc}); fix the file") from None
    try:
        return parse_program(raw)
    except ProgramError as exc:
        raise ProgramError(f"{path}: {exc}") from None
