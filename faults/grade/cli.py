"""``faults grade SUBMISSION_DIR... [options]`` and the replay of its scenarios.

Exit status: 0 every property holds for every submission, 1 a property failed, 2 a
submission could not be run or the options are wrong (one ``error:`` line says why).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from faults.grade import report
from faults.grade.explain import explain
from faults.grade.grade import Grade, grade
from faults.grade.judge import judge
from faults.grade.options import GradeError, GradeOptions, parse_pair, read_template_file
from faults.grade.run import run_example
from faults.grade.schedule import load
from faults.grade.search import PROPERTIES


def add_parser(sub: Any) -> None:
    """Register ``grade`` on the ``faults`` command's subparsers."""
    p = sub.add_parser("grade", help="grade unmodified word-count submissions under faults")
    p.add_argument("submissions", nargs="*", metavar="SUBMISSION_DIR")
    p.add_argument("--cmd", default="python client.py", help="command to run (templates)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=TEMPLATE")
    p.add_argument("--config", action="append", default=[], metavar="PATH=TEMPLATE_FILE")
    p.add_argument("--counts-key", default="count", metavar="KEY")
    p.add_argument("--stream", metavar="KEY", help="the task stream (for reports)")
    p.add_argument("--group", metavar="NAME", help="the consumer group (for reports)")
    p.add_argument(
        "--load-function",
        metavar="FILE",
        help="Redis Function library to load into every Redis started (also after restarts)",
    )
    p.add_argument("--input", choices=("text", "csv"), default="text")
    p.add_argument("--split-on", choices=("whitespace", "space"), default="whitespace")
    p.add_argument("--python", metavar="PATH", help="the submission's interpreter")
    p.add_argument("--redis-port", type=int, metavar="PORT", help="port the submission expects")
    p.add_argument("--redis-password", metavar="PW", help="password the submission expects")
    p.add_argument(
        "--claim-timeout",
        type=int,
        default=1000,
        metavar="MS",
        help="the submission's claim timeout: stalls are drawn on both sides",
    )
    p.add_argument(
        "--exit-within",
        type=float,
        default=15.0,
        metavar="S",
        help="a run must exit within S seconds of its last fault",
    )
    p.add_argument("--profile", choices=("ci", "dev", "thorough"), default="ci")
    p.add_argument("--isolate", choices=("auto", "netns", "none"), default="auto")
    p.add_argument("--only", action="append", choices=tuple(PROPERTIES), default=[])
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed property")
    p.add_argument("--shrink-seconds", type=float, default=60.0, metavar="S")
    p.add_argument("--save-dir", default=".faults/grade", metavar="DIR")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--markdown-dir", metavar="DIR", help="write a markdown page per submission")
    p.add_argument("--replay", metavar="FILE", help="replay a saved grading scenario")
    p.add_argument("--repeat", type=int, default=1, metavar="N")
    p.set_defaults(func=cmd_grade)


def options_from(args: argparse.Namespace) -> GradeOptions:
    if args.redis_password is not None and any(c in args.redis_password for c in '"\\\n '):
        raise GradeError(
            "--redis-password: quotes, backslashes, spaces and line breaks are "
            "not supported; use a plain password"
        )
    function = None
    if args.load_function:
        try:
            function = Path(args.load_function).read_text(encoding="utf-8")
        except OSError as exc:
            raise GradeError(
                f"--load-function {args.load_function}: {exc.strerror or exc}"
            ) from None
    return GradeOptions(
        cmd=args.cmd,
        env=tuple(parse_pair(e, "--env") for e in args.env),
        configs=tuple(read_template_file(c) for c in args.config),
        counts_key=args.counts_key,
        stream=args.stream,
        group=args.group,
        load_function=function,
        input=args.input,
        split_on=args.split_on,
        python=args.python,
        redis_port=args.redis_port,
        redis_password=args.redis_password,
        claim_timeout_ms=args.claim_timeout,
        exit_within_s=args.exit_within,
        profile=args.profile,
        isolate=args.isolate,
    )


def cmd_grade(args: argparse.Namespace) -> int:
    """SIGTERM (a CI job cancelled) unwinds like Ctrl-C while grading, so every run's
    cleanup still kills the submission's processes and its Redis."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return _grade_all(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _grade_all(args: argparse.Namespace) -> int:
    if args.replay:
        return replay_file(
            args.replay, args.repeat, args.submissions[0] if args.submissions else None
        )
    if not args.submissions:
        raise GradeError("name at least one SUBMISSION_DIR (or --replay FILE)")
    options = options_from(args)
    grades: list[Grade] = []
    for folder in args.submissions:
        try:
            result = grade(
                Path(folder),
                options,
                only=tuple(args.only),
                fail_fast=args.fail_fast,
                shrink_s=args.shrink_seconds,
                save_dir=Path(args.save_dir),
            )
        except GradeError as exc:
            result = Grade(folder, [], 0.0, error=str(exc))
        grades.append(result)
        print(report.text(result, options), flush=True)
        if args.markdown_dir:
            out = Path(args.markdown_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{Path(folder).resolve().name}.md").write_text(report.markdown(result, options))
    if len(grades) > 1:
        print("\n" + report.summary(grades))
    if args.junit:
        Path(args.junit).write_text(report.junit(grades, options), encoding="utf-8")
    return max(g.exit_code for g in grades)


def is_grade_scenario(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == "faults-grade"


def replay_file(path: str, repeat: int = 1, submission: str | None = None) -> int:
    """Run a saved scenario against its submission (or another one) and judge it."""
    saved, options, example = load(path)
    folder = Path(submission or saved)
    attempt = 0
    while attempt < max(1, repeat):
        attempt += 1
        result = run_example(folder, options, example)
        verdict = judge(result, options)
        if not verdict.ok:
            break
    print(
        f"{folder}: {'valid' if verdict.ok else 'FAIL'} (run {attempt}, {result.duration_s:.1f} s)"
    )
    if not verdict.ok:
        print("  " + explain(result, verdict, result.per_file))
        if result.output.strip():
            print("  last output: " + result.output.strip().splitlines()[-1][:200])
    return 0 if verdict.ok else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m faults.grade.cli``, for when the ``faults`` command is not installed."""
    parser = argparse.ArgumentParser(prog="faults")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except GradeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
