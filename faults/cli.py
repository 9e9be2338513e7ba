"""The ``faults`` command: replay a saved scenario, or run one given on the command line.

``faults replay scenario.json`` runs it and prints the verdict, the faults that fired in
order and, when invalid, a diff of the counts. ``faults run`` builds a scenario from
options (``--fault 'worker.after_count#2:crash'``, repeatable) or from ``--seed N`` and
runs it; ``--save FILE`` writes the scenario so that ``replay`` takes it as is. ``faults
soak --minutes N`` draws scenarios until the time is up (:mod:`faults.soak`).

Exit status: 0 valid, 1 invalid, 2 unknown (or a usage error, printed as ``error:``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faults import scenario_json
from faults.checker import check
from faults.errors import FaultsError, ScenarioError
from faults.generate import generate_scenario
from faults.report import render
from faults.runner import run_scenario
from faults.scenario import FAULT_SYNTAX, Dataset, Fault, Generated, Scenario, Settings

BACKENDS = ("process", "docker", "auto")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="process",
                        help="Redis node kind: local redis-server, container, or auto")  # fmt: skip
    parser.add_argument("--engine", metavar="MODULE:FACTORY", help="engine under test")
    parser.add_argument("--history", metavar="FILE", help="write the history (JSON lines)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary instead")
    parser.add_argument("--timeout", type=float, metavar="S", help="override timeout_s")
    parser.add_argument("--serve", type=int, metavar="PORT",
                        help="serve the job's status page on 127.0.0.1:PORT")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run up to N times, stopping at the first run that is not valid "
                        "(for failures that depend on timing)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faults", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    replay = sub.add_parser("replay", help="run a saved scenario and judge it")
    replay.add_argument("scenario", help="a scenario JSON file")
    _common(replay)
    replay.set_defaults(func=cmd_replay)
    run = sub.add_parser("run", help="run a scenario given by options or by --seed")
    run.add_argument("--fault", action="append", default=[], metavar="SPEC",
                     help=f"a fault: {FAULT_SYNTAX} (repeatable)")  # fmt: skip
    run.add_argument("--seed", type=int, help="generate the scenario (or, with --fault, the "
                     "dataset) from this seed")  # fmt: skip
    run.add_argument("--workers", type=int, help="worker processes (default 3)")
    run.add_argument("--files", type=int, help="generated input files (default 4)")
    run.add_argument("--words", type=int, default=400, help="words per generated file")
    run.add_argument("--claim-timeout", type=int, default=500, metavar="MS")
    run.add_argument("--max-attempts", type=int, default=5)
    run.add_argument("--persistence", help="none, snapshot[:MS], aof-everysec, aof-always")
    run.add_argument("--bootstrap-batch", type=int, default=500, metavar="N")
    run.add_argument("--chunk-bytes", type=int, default=0, metavar="N",
                     help="split text files in byte ranges of about N bytes (0: off)")  # fmt: skip
    run.add_argument("--name", default="cli", help="scenario name")
    run.add_argument("--save", metavar="FILE", help="write the scenario as JSON first")
    _common(run)
    run.set_defaults(func=cmd_run)
    _soak_parser(sub)
    from faults.grade import cli as grade_cli  # black-box grading of other word counts

    grade_cli.add_parser(sub)
    return parser


def _soak_parser(sub: Any) -> None:
    soak = sub.add_parser("soak", help="draw scenarios from every family until the time is up")
    soak.add_argument("--minutes", type=float, required=True, metavar="N",
                      help="how long to draw scenarios (e.g. 30; 0.3 is 18 s)")  # fmt: skip
    soak.add_argument("--backend", choices=("process", "docker"), default="process")
    soak.add_argument("--engine", metavar="MODULE:FACTORY", help="engine under test")
    soak.add_argument("--seed", type=int, help="seed of the draws (default: random, printed)")
    soak.add_argument("--jobs", type=int, metavar="J",
                      help="scenarios run in parallel (default: one per core)")  # fmt: skip
    soak.add_argument("--load", type=int, default=0, metavar="N",
                      help="CPU hogs (busy processes) beside the soak (default 0)")  # fmt: skip
    soak.set_defaults(func=cmd_soak)


def cmd_soak(args: argparse.Namespace) -> int:
    from faults.hogs import cores
    from faults.runner import check_engine
    from faults.soak import Options, default_seed, run_soak

    if args.minutes <= 0:
        raise ScenarioError(f"--minutes {args.minutes:g}: give a positive number of minutes")
    if (args.jobs is not None and args.jobs < 1) or args.load < 0:
        raise ScenarioError(f"--jobs {args.jobs} / --load {args.load}: use 1+ jobs, 0+ hogs")
    check_engine(args.engine)
    seed = default_seed() if args.seed is None else args.seed
    options = Options(args.minutes, args.backend, args.engine, seed, args.jobs or cores(),
                      args.load)  # fmt: skip
    return run_soak(options, lambda line: print(line, flush=True))


def load_scenario(path: str) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    try:
        return scenario_json.load(text)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """A generated scenario for a bare ``--seed``, else one built from the options."""
    if args.seed is not None and not args.fault:
        return generate_scenario(
            args.seed, workers=args.workers, persistence=args.persistence, files=args.files
        )
    return Scenario(
        name=args.name,
        workers=args.workers or 3,
        dataset=Dataset(generated=Generated(args.seed or 0, args.files or 4, args.words)),
        settings=Settings(
            claim_timeout_ms=args.claim_timeout,
            max_attempts=args.max_attempts,
            persistence=args.persistence or "none",
            bootstrap_batch=args.bootstrap_batch,
            chunk_bytes=args.chunk_bytes,
        ),
        faults=tuple(Fault.parse(text) for text in args.fault),
        seed=args.seed,
    )


def execute(scenario: Scenario, args: argparse.Namespace) -> int:
    """Run, judge, print; the exit status is the verdict's.

    With ``--repeat N`` the scenario runs up to N times and stops at the first run that is
    not valid: real processes race, so a failure that needed one interleaving (a sample
    taken between two calls, a theft just before a commit) may take a few runs to recur.
    """
    if args.serve is not None:  # the driver, a subprocess, serves its job (engine/web)
        os.environ["WORDCOUNT_SERVE_PORT"] = str(args.serve)
        print(f"watch the job at http://127.0.0.1:{args.serve}/", file=sys.stderr)
    runs = 0
    while True:
        runs += 1
        outcome = run_scenario(scenario, args.backend, engine=args.engine, timeout_s=args.timeout)
        verdict = check(outcome)
        if not verdict.valid or runs >= args.repeat:
            break
    if args.repeat > 1:
        print(f"run {runs} of at most {args.repeat}: {verdict.status}", file=sys.stderr)
    if args.history:
        Path(args.history).write_text(outcome.history.dumps(), encoding="utf-8")
    if args.json:
        summary = {**outcome.summary(), "verdict": verdict.status, "problems": verdict.problems}
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render(outcome, verdict))
    return verdict.exit_code


def cmd_replay(args: argparse.Namespace) -> int:
    from faults.grade import cli as grade_cli

    if grade_cli.is_grade_scenario(args.scenario):
        return grade_cli.replay_file(args.scenario, args.repeat)
    return execute(load_scenario(args.scenario), args)


def cmd_run(args: argparse.Namespace) -> int:
    scenario = scenario_from_args(args)
    if args.save:
        try:
            Path(args.save).write_text(scenario_json.dump(scenario), encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"cannot write {args.save}: {exc.strerror or exc}") from None
        print(f"scenario saved to {args.save}: replay it with `faults replay {args.save}`",
              file=sys.stderr)  # fmt: skip
    return execute(scenario, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FaultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `faults replay x.json | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
