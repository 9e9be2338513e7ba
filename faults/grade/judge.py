"""The verdict of one run: exit 0 in time, counts equal to the serial count word for word,
and no word that is in no input.

The reference is :mod:`engine.serial` (the suite's independent oracle) over the run's
input files, with the tokenizer ``--split-on`` names.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from faults.grade.options import GradeOptions
from faults.grade.run import RunResult


@dataclasses.dataclass(frozen=True)
class Verdict:
    """``kind``: ok, hang (no exit in time), exit (non-zero), counts, foreign (a word in
    no input). ``detail`` is one plain sentence."""

    kind: str
    detail: str
    wrong: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    """word -> (expected, got), for the words that differ."""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def judge(result: RunResult, options: GradeOptions) -> Verdict:
    if result.exit_code is None:
        return Verdict(
            "hang",
            f"the command did not exit within {options.exit_within_s:g} s "
            "after the last fault (it hangs)",
        )
    if result.exit_code != 0:
        return Verdict("exit", f"the command exited with status {result.exit_code}")
    expected: Counter[str] = sum(result.per_file, Counter())
    got = result.counts if result.counts is not None else Counter()
    if result.counts is None:
        return Verdict("counts", f"{options.counts_key!r} is not a sorted set")
    foreign = sorted(w for w in got if w not in expected)
    wrong = {w: (expected[w], got[w]) for w in set(expected) | set(got) if expected[w] != got[w]}
    if foreign:
        return Verdict(
            "foreign",
            f"the counts hold {len(foreign)} word(s) that are in no input, e.g. {foreign[0]!r}",
            wrong,
        )
    if wrong:
        return Verdict("counts", describe_wrong(wrong), wrong)
    if result.atomicity:
        return Verdict("atomicity", result.atomicity[0])
    return Verdict("ok", "counts equal the serial count, exit 0")


def describe_wrong(wrong: dict[str, tuple[int, int]]) -> str:
    items = sorted(wrong.items())[:3]
    shown = ", ".join(f"{w!r} counted {got} times, expected {exp}" for w, (exp, got) in items)
    more = f" (and {len(wrong) - 3} more words)" if len(wrong) > 3 else ""
    return shown + more
