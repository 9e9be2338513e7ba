"""Human-readable reports of a run and its verdict, for the ``faults`` command.

Kept apart from the checker and the runner, which return data: whoever wants text asks
for it here.
"""

from __future__ import annotations

from collections import Counter

from faults import history as h
from faults.checker import Verdict
from faults.outcome import Outcome
from faults.replication_check import report as replication_report

MAX_DIFF_LINES = 30


def render(outcome: Outcome, verdict: Verdict) -> str:
    """The verdict, the faults that fired in order, the problems, and a diff of counts."""
    lines = [f"{verdict.status.upper()}: scenario {outcome.scenario.name} on {outcome.backend} "
             f"in {outcome.duration_s:.2f} s (job {outcome.job_id})"]  # fmt: skip
    lines.append(f"faults fired ({len(outcome.fired)} of {len(outcome.scenario.faults)}):")
    for fired in sorted(outcome.fired, key=lambda f: f.time):
        lines.append(f"  {fired.time:7.3f} s  {fired.fault!s:<36} on {fired.process}")
    for fault in outcome.not_fired():
        lines.append(f"  (never)    {fault:<36} its trigger was not reached")
    for problem in verdict.problems:
        lines.append(f"problem: {problem}")
    lines += _diff(verdict)
    if verdict.missing_tasks:
        lines.append(f"missing tasks: {list(verdict.missing_tasks)}")
    if verdict.doubled_tasks:
        lines.append(f"tasks committed twice: {list(verdict.doubled_tasks)}")
    again = counted_again(outcome)
    if again:
        lines.append(
            f"recomputed (counted more than once, allowed; their counts must still be exact): "
            f"{len(again)} task(s), {dict(sorted(again.items())[:MAX_DIFF_LINES])}"
        )
    replicated = replication_report(outcome)
    if replicated is not None:
        lines.append(replicated.line())
    for note in outcome.problems:
        lines.append(f"note: {note}")
    if verdict.status != "valid" and outcome.log_tail:
        lines.append("engine log (end):")
        lines += ["  " + line for line in outcome.log_tail.splitlines()[-15:]]
    return "\n".join(lines)


def _diff(verdict: Verdict) -> list[str]:
    if not verdict.words:
        return []
    lines = [f"count diff ({len(verdict.words)} word(s)): word, expected, actual"]
    for diff in verdict.words[:MAX_DIFF_LINES]:
        sign = "+" if diff.actual > diff.expected else "-"
        lines.append(f"  {sign} {diff.word!r:<30} {diff.expected:>8} {diff.actual:>8}")
    if len(verdict.words) > MAX_DIFF_LINES:
        lines.append(f"  ... {len(verdict.words) - MAX_DIFF_LINES} more")
    if verdict.foreign_words:
        lines.append(f"words in no input: {list(verdict.foreign_words[:MAX_DIFF_LINES])!r}")
    return lines


def counted_again(outcome: Outcome) -> dict[int, int]:
    """Tasks counted more than once, with how many times: the work a fault cost (a stolen
    straggler, a commit whose reply was lost and whose claim lapsed, a restart that lost
    acknowledged commits). Not a failure: exactly-once is about commits, not counting."""
    counted = Counter(op.value.get("index") for op in outcome.history.select(h.COUNT))
    return {int(i): n for i, n in counted.items() if i is not None and n > 1}
