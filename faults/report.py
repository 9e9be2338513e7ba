"""Human-readable reports of a run and its verdict, for the ``faults`` command.

Kept apart from the checker and the runner, which return data: whoever wants text asks
for it here.
"""

from __future__ import annotations

from faults.checker import Verdict
from faults.outcome import Outcome

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
