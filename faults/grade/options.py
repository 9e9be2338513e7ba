"""What a grading needs to know about a submission, and the templates it renders.

Real submissions learn where Redis is in different ways (a ``config.json`` read through
``WC_CONFIG``, environment variables, hard-coded ``localhost:6379``), so the grader does
not guess: ``--env NAME=TEMPLATE`` and ``--config PATH=TEMPLATE_FILE`` say it, with the
placeholders of :data:`PLACEHOLDERS` filled in per run.
"""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path
from typing import Literal

from faults.errors import FaultsError

PLACEHOLDERS = (
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "data_dir",
    "data_glob",
    "workers",
    "claim_timeout_ms",
)
InputKind = Literal["text", "csv"]


class GradeError(FaultsError):
    """A usage error, or a submission that cannot be run (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class GradeOptions:
    """Everything that decides how one submission is driven and judged."""

    cmd: str = "python client.py"
    env: tuple[tuple[str, str], ...] = ()
    configs: tuple[tuple[str, str], ...] = ()
    """(path in the working copy, template text)."""
    counts_key: str = "count"
    stream: str | None = None
    group: str | None = None
    load_function: str | None = None
    """Text of a Redis Function library loaded into every Redis started."""
    input: InputKind = "text"
    split_on: Literal["whitespace", "space"] = "whitespace"
    python: str | None = None
    redis_port: int | None = None
    redis_password: str | None = None
    claim_timeout_ms: int = 1000
    exit_within_s: float = 15.0
    profile: str = "ci"
    isolate: Literal["auto", "netns", "none"] = "auto"

    def to_data(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["env"] = [list(pair) for pair in self.env]
        data["configs"] = [list(pair) for pair in self.configs]
        return data

    @classmethod
    def from_data(cls, data: dict[str, object]) -> GradeOptions:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for pairs in ("env", "configs"):
            values[pairs] = tuple(tuple(p) for p in values.get(pairs, ()))  # type: ignore[attr-defined]
        return cls(**values)  # type: ignore[arg-type]


def parse_pair(text: str, option: str) -> tuple[str, str]:
    """``NAME=VALUE`` of a repeatable option, or a one-line error naming it."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise GradeError(
            f"{option} {text!r}: expected NAME=VALUE, e.g. {option} WC_CONFIG=cfg.json"
        )
    return name, value


def read_template_file(spec: str) -> tuple[str, str]:
    """``--config PATH=TEMPLATE_FILE``: the path in the working copy and the template."""
    target, source = parse_pair(spec, "--config")
    if Path(target).is_absolute() or ".." in Path(target).parts:
        raise GradeError(f"--config {spec!r}: the target must be a path inside the submission")
    try:
        return target, Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise GradeError(
            f"--config {spec!r}: cannot read {source}: {exc.strerror or exc}"
        ) from None


def render(template: str, values: dict[str, str], what: str) -> str:
    """Fill the placeholders; an unknown one is named with the list of known ones.

    Only ``{name}`` fields are replaced, so JSON braces elsewhere need no doubling: a
    template is scanned with :class:`string.Formatter` and literal braces kept.
    """
    out: list[str] = []
    for literal, field, _spec, _conv in _scan(template):
        out.append(literal)
        if field is None:
            continue
        if field not in values:
            raise GradeError(
                f"{what}: unknown placeholder {{{field}}}: use {', '.join(PLACEHOLDERS)}"
            )
        out.append(values[field])
    return "".join(out)


def _scan(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """Split on ``{name}`` placeholders only; any other brace is literal text."""
    parts: list[tuple[str, str | None, str | None, str | None]] = []
    rest = template
    while True:
        start = rest.find("{")
        end = rest.find("}", start + 1)
        name = rest[start + 1 : end] if start >= 0 and end > start else ""
        if start < 0 or end < 0:
            parts.append((rest, None, None, None))
            return parts
        if name.isidentifier() and all(c in string.ascii_letters + "_" for c in name):
            parts.append((rest[:start], name, None, None))
        else:
            parts.append((rest[: start + 1], None, None, None))
            end = start
        rest = rest[end + 1 :]
