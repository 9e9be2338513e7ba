"""``wordcount flow run|serial|check``: dataflow programs from the command line.

Registered by :func:`add_parser` from ``engine/cli.py``; errors are the engine's
(``error:`` lines printed by ``engine.cli.main``).
"""

from __future__ import annotations

import argparse
import sys

from engine import redisopts
from engine.errors import ConfigError
from engine.flow.codec import Pair
from engine.flow.inputs import format_pairs, write_pairs


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    flow = sub.add_parser("flow", help="run dataflow programs (map, changeKey, reduce)")
    commands = flow.add_subparsers(dest="flow_command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a program with N workers through Redis")
    _common(run)
    run.add_argument("--workers", "-w", type=int, default=2, help="worker processes (default 2)")
    redisopts.add_options(run, "omit it to start an embedded Redis")
    run.add_argument("--job", metavar="ID", help="job ID; give an existing one to resume it")
    run.add_argument(
        "--claim-timeout",
        type=int,
        default=10_000,
        metavar="MS",
        help="idle ms after which a task is stolen from its worker (default 10000)",
    )
    run.add_argument("--max-respawns", type=int, help="worker restarts allowed (default 3N+2)")
    run.add_argument("--no-progress", action="store_true", help="accepted, like `run`'s")
    run.set_defaults(func=cmd_flow_run)
    serial = commands.add_parser("serial", help="run a program with the serial interpreter")
    _common(serial)
    serial.set_defaults(func=cmd_flow_serial)
    check = commands.add_parser("check", help="validate a program and show its stages")
    check.add_argument("program", metavar="PROGRAM.json")
    check.set_defaults(func=cmd_flow_check)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", metavar="PROGRAM.json", help="the program (JSON)")
    parser.add_argument("--input", metavar="FILE", help="CSV of k,v rows (overrides the program's)")
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="write k,v CSV here (default: stdout)"
    )


def _emit(pairs: list[Pair], output: str | None) -> None:
    if output:
        write_pairs(output, pairs)
        print(f"{len(pairs)} pairs written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(format_pairs(pairs))


def cmd_flow_run(args: argparse.Namespace) -> int:
    from engine import crashpoints
    from engine.flow.driver import FlowOptions, run_flow

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.claim_timeout < 1:
        raise ConfigError(
            f"--claim-timeout must be a positive number of ms, got {args.claim_timeout}"
        )
    crashpoints.install_from_env()
    result = run_flow(
        FlowOptions(
            program_path=args.program,
            input_path=args.input,
            workers=args.workers,
            redis_url=args.redis_url,
            job_id=args.job,
            claim_timeout_ms=args.claim_timeout,
            max_respawns=args.max_respawns,
        )
    )
    print(f"job {result.job_id}: done, {result.stages} stage(s)", file=sys.stderr)
    _emit(result.pairs, args.output)
    return 0


def cmd_flow_serial(args: argparse.Namespace) -> int:
    from engine.flow.driver import input_of
    from engine.flow.inputs import read_pairs
    from engine.flow.interpret import interpret
    from engine.flow.program import load_program

    program = load_program(args.program)
    pairs = read_pairs(input_of(program, args.program, args.input))
    _emit(interpret(program, pairs), args.output)
    return 0


def cmd_flow_check(args: argparse.Namespace) -> int:
    from engine.flow.plan import plan_stages
    from engine.flow.program import load_program

    program = load_program(args.program)
    for i, stage in enumerate(plan_stages(program)):
        ops = (
            ", ".join(
                f"{o.operator}({o.function}{'' if o.arg is None else f' {o.arg}'})" for o in stage
            )
            or "(copy)"
        )
        print(f"stage {i}: {ops}")
    return 0
