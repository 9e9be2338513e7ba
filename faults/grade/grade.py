"""Grading one submission: a fault-free baseline, then every property, failures saved.

The baseline decides whether the submission can be graded at all: a command that cannot
start, exits non-zero with no fault, needs a password or address it was not given, or
keeps its counts under another key is a submission that *cannot be run* (exit 2, with
the reason), not one that failed a property.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from faults.grade import draw
from faults.grade.judge import Verdict
from faults.grade.options import GradeError, GradeOptions
from faults.grade.run import RunResult
from faults.grade.schedule import save
from faults.grade.search import BASELINE, PROPERTIES, PropertyResult, check_property, runner


@dataclasses.dataclass
class Grade:
    submission: str
    properties: list[PropertyResult]
    seconds: float
    error: str = ""
    saved: dict[str, str] = dataclasses.field(default_factory=dict)
    """property -> scenario JSON of its shrunk counterexample."""

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 0 if all(p.ok for p in self.properties) else 1


def cannot_run(result: RunResult, verdict: Verdict, options: GradeOptions) -> str | None:
    """Why the baseline shows the submission cannot be graded, if it does."""
    out = result.output
    last = (out.strip().splitlines() or ["(no output)"])[-1][:200]
    if verdict.kind == "exit" and (
        result.exit_code == 127 or re.search(r"can't open file|No such file|not found", out)
    ):
        return f"no such command or file: --cmd {options.cmd!r}: {last}"
    failed = sorted({str(op.value.get("error")) for op in result.history.select(type="fail")})
    stuck = verdict.kind in ("exit", "hang")
    no_success = not result.history.select(type="ok")
    if stuck and (result.auth_errors or "AuthenticationError" in failed) and no_success:
        return (
            "it needs a Redis password it was not given: pass {redis_password} through "
            "--env or --config templates, or say --redis-password"
        )
    if stuck and not result.commands and no_success:
        seen = f" (its commands failed with {', '.join(failed)})" if failed else ""
        return (
            f"it never reached the grader's Redis{seen}: tell it where Redis is with --env or "
            "--config templates ({redis_host}, {redis_port}, ...), or say --redis-port"
        )
    if verdict.kind == "exit":
        if re.search(
            r"NOAUTH|AuthenticationError|WRONGPASS|invalid password|"
            r"Authentication required",
            out,
        ):
            return (
                "it needs a Redis password it was not given: pass it through --env or "
                f"--config templates ({{redis_password}}), or --redis-password. Last line: {last}"
            )
        if re.search(r"Connection refused|Error 111|Error 99", out):
            return (
                "it connects to a Redis address it was not given: use --env/--config "
                f"templates, or --redis-port/--redis-password. Last line: {last}"
            )
        return f"it exits with status {result.exit_code} with no fault injected. Last line: {last}"
    return _no_counts(result, verdict, options)


def _no_counts(result: RunResult, verdict: Verdict, options: GradeOptions) -> str | None:
    """Why an exit 0 left no counts where the grader looks, if it did."""
    if verdict.kind == "counts" and result.counts is None:
        return f"--counts-key {options.counts_key!r} is not a sorted set: name the right key"
    if verdict.kind == "counts" and not result.counts and verdict.wrong:
        if result.other_keys:
            made = ", ".join(result.other_keys)
            key = options.counts_key
            return f"no counts under --counts-key {key!r} (it made {made}): name the right key"
        return (
            "it exits 0 but made no sorted set at all: did it find the inputs? Tell it where "
            "they are with {data_glob} or {data_dir} in --config/--env templates"
        )
    return None


def grade(
    submission: Path,
    options: GradeOptions,
    *,
    only: tuple[str, ...] = (),
    fail_fast: bool = False,
    shrink_s: float = 60.0,
    save_dir: Path | None = None,
) -> Grade:
    start = time.monotonic()
    if not submission.is_dir():
        raise GradeError(f"submission {str(submission)!r} is not a directory")
    run = runner(submission, options)
    base, verdict = run(BASELINE)
    reason = cannot_run(base, verdict, options)
    if reason:
        return Grade(str(submission), [], time.monotonic() - start, error=reason)
    if not verdict.ok:  # wrong or hanging without faults: nothing else is worth drawing
        failed = PropertyResult(
            "termination", 1, base.duration_s, base.duration_s, 1, (base, verdict)
        )
        others = [
            PropertyResult(p, skipped="not run: the fault-free run already fails")
            for p in PROPERTIES
            if p != "termination"
        ]
        return Grade(str(submission), [*others, failed], time.monotonic() - start)
    points = draw.observed(base.history, base.files)
    grade = Grade(str(submission), [], 0.0)
    for prop in only or tuple(PROPERTIES):
        result = check_property(prop, points, options, run, shrink_s)
        grade.properties.append(result)
        if result.failure is not None and save_dir is not None:
            path = save_dir / f"{submission.resolve().name}-{prop}.json"
            save_dir.mkdir(parents=True, exist_ok=True)
            save(str(path), str(submission.resolve()), options, result.failure[0].example)
            grade.saved[prop] = str(path)
        if result.failure is not None and fail_fast:
            break
    grade.seconds = time.monotonic() - start
    return grade
