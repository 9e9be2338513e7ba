"""The ``wordcount`` command: run, worker, serial, status, top, delete.

Every error the engine raises on purpose is printed as one ``error:`` line with what to
do about it, and the process exits with a non-zero status; tracebacks are for bugs.
"""

from __future__ import annotations

import argparse
import fractions
import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence

from engine import __version__, connection, crashpoints, interrupt, redisopts, replication_cli
from engine.errors import ConfigError, JobFailedError, WordCountError
from engine.mapreduce import cli as mapreduce_cli
from engine.nodes.base import Persistence
from engine.output import check_output, format_top, write_counts
from engine.rescue import write_or_rescue
from engine.roots import ROOTS_ENV, given_roots
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer
from engine.web import cli as web_cli

Command = Callable[[argparse.Namespace], int]


def _tokenizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", help="files, directories or glob patterns")
    parser.add_argument(
        "--split-on",
        choices=["whitespace", "space"],
        default="whitespace",
        help="word separator: runs of whitespace (default) or the single space character",
    )
    parser.add_argument("--lower", action="store_true", help="lower-case words before counting")
    parser.add_argument(
        "--csv-column", metavar="NAME", help="count the text in this column of .csv inputs"
    )
    parser.add_argument("--top", type=int, default=10, metavar="K", help="words to print")
    parser.add_argument("--output", "-o", metavar="FILE", help="write all counts (.csv or .json)")


_SIZE = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>(?:[kmg]i?)?b?)", re.IGNORECASE)
_UNIT_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30}


def parse_size(text: str, option: str = "--chunk-size") -> int:
    """Bytes from ``1048576``, ``512KB``, ``16MB``, ``1.5GB`` (binary units; ``KiB`` and
    ``k`` work too). Checked here rather than by argparse so a bad value is reported like
    every other engine error: one line naming the value and the fix."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"{option} {text!r} is not a size: write a number of bytes or a size such as "
            "512KB, 16MB or 1GB (0 never splits a file)"
        )
    shift = _UNIT_SHIFT[match.group("unit").lower().rstrip("ib")]
    size = fractions.Fraction(match.group("number")) * (1 << shift)
    if size.denominator != 1:
        raise ConfigError(
            f"{option} {text!r} is {float(size):g} bytes, not a whole number: write whole bytes "
            "(1536) or a size that comes to whole bytes (1.5KB)"
        )
    return int(size)


def _chunk_option(parser: argparse.ArgumentParser, *, used: bool) -> None:
    from engine.inputs import DEFAULT_CHUNK_BYTES

    text = (
        f"split text files larger than SIZE into byte-range tasks, e.g. 512KB, 16MB; "
        f"0 never splits (default {DEFAULT_CHUNK_BYTES >> 20}MB)"
        if used
        else "accepted for the same command line as run, and ignored: serial reads whole files"
    )
    parser.add_argument("--chunk-size", metavar="SIZE", help=text)


def _chunk_bytes(args: argparse.Namespace) -> int:
    from engine.inputs import DEFAULT_CHUNK_BYTES

    return DEFAULT_CHUNK_BYTES if args.chunk_size is None else parse_size(args.chunk_size)


def _redis_option(parser: argparse.ArgumentParser, required_help: str) -> None:
    redisopts.add_options(parser, required_help)


def _roots_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--input-root",
        action="append",
        default=[],
        metavar="DIR",
        help=f"read input files only inside DIR; repeat for more ({default}; docs/security.md)",
    )


def _engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        metavar="MODULE:FACTORY",
        help="the worker implementation (default: $WORDCOUNT_ENGINE or this project's)",
    )


def _positive_ms(text: str) -> int:
    """Accept 500, 500ms, 2s, 1.5s."""
    value = text.strip().lower()
    try:
        if value.endswith("ms"):
            ms = float(value[:-2])
        elif value.endswith("s"):
            ms = float(value[:-1]) * 1000
        else:
            ms = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (use 500ms or 2s)") from None
    if ms <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return int(ms)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wordcount", description="Fault-tolerant distributed word count on Redis."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_worker(sub)
    from engine.flow.cli import add_parser as add_flow

    add_flow(sub)
    serial = sub.add_parser("serial", help="count on one core without Redis (the reference)")
    _tokenizer_options(serial)
    _chunk_option(serial, used=False)
    serial.set_defaults(func=cmd_serial)
    web_cli.add_parser(sub)
    for name, func, text in (
        ("status", cmd_status, "show a job's state, or list the jobs"),
        ("top", cmd_top, "print a job's most frequent words"),
        ("delete", cmd_delete, "delete a job's keys"),
    ):
        cmd = sub.add_parser(name, help=text)
        _redis_option(cmd, "required")
        cmd.add_argument("--job", required=name != "status", help="the job ID")
        cmd.add_argument("--top", type=int, default=10, metavar="K")
        if name == "top":
            cmd.add_argument("--output", "-o", metavar="FILE", help="write all counts too")
        cmd.set_defaults(func=func)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="count words with N worker processes")
    _tokenizer_options(run)
    run.add_argument("--workers", "-w", type=int, default=2, help="worker processes (default 2)")
    _redis_option(run, "omit it to start an embedded Redis for this job")
    run.add_argument("--job", metavar="ID", help="job ID; give an existing one to resume it")
    run.add_argument("--max-attempts", type=int, default=5, help="deliveries before a task fails")
    run.add_argument(
        "--claim-timeout",
        type=_positive_ms,
        default=10_000,
        metavar="DURATION",
        help="idle time after which a task is stolen from its worker (default 10s)",
    )
    run.add_argument("--max-respawns", type=int, help="worker restarts allowed (default 3N+2)")
    run.add_argument(
        "--persistence",
        default="none",
        help="embedded Redis persistence: none, snapshot[:MS], aof-everysec, aof-always",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _chunk_option(run, used=True)
    _roots_option(run, "default: the inputs' own directories, files and glob prefixes")
    _engine_option(run)
    web_cli.add_run_option(run)
    replication_cli.add_run_options(run)
    mapreduce_cli.add_arguments(run)
    run.set_defaults(func=cmd_run)


def _add_worker(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="run one worker of a job (on any host)")
    _redis_option(worker, "required")
    worker.add_argument("--job", required=True, help="the job ID")
    worker.add_argument(
        "--redis-timeout",
        type=float,
        default=connection.DEFAULT_DEADLINE_S,
        metavar="SECONDS",
        help="how long Redis may stay unreachable before the worker gives up (default 60)",
    )
    worker.add_argument(
        "--wait-for-job",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the job to appear (default 30)",
    )
    _roots_option(worker, "default: the roots the job recorded")
    _engine_option(worker)
    replication_cli.add_worker_options(worker)
    worker.set_defaults(func=cmd_worker)


def _tokenizer(args: argparse.Namespace) -> Tokenizer:
    return Tokenizer(split_on=args.split_on, lower=args.lower)


def _print_result(top: list[tuple[str, int]], output: str | None, counts: object) -> None:
    if top:
        print(format_top(top))
    if output:
        write_counts(output, counts)  # type: ignore[arg-type]
        print(f"all counts written to {output}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from engine.driver import RunOptions, run

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.output:
        check_output(args.output)
    crashpoints.install_from_env()
    interrupt.terminate_like_interrupt()
    options = RunOptions(
        paths=args.paths,
        workers=args.workers,
        redis_url=args.redis_url,
        job_id=args.job,
        tokenizer=_tokenizer(args),
        csv_column=args.csv_column,
        max_attempts=args.max_attempts,
        claim_timeout_ms=args.claim_timeout,
        max_respawns=args.max_respawns,
        top=args.top,
        read_all=bool(args.output),
        persistence=Persistence.parse(args.persistence),
        progress=False if args.no_progress else None,
        on_redis=web_cli.run_hook(args),
        engine=args.engine,
        chunk_bytes=_chunk_bytes(args),
        input_roots=args.input_root,
        **mapreduce_cli.options(args),
    )
    replication_cli.apply_run(args, options)
    result = run(options)
    info = result.info
    print(
        f"job {result.job_id}: {info.state}, {info.tasks_done} of {info.n_tasks} tasks counted, "
        f"{info.bytes_done / 1e6:.1f} MB",
        file=sys.stderr,
    )
    if result.top:
        print(format_top(result.top))
    if args.output:
        write_or_rescue(
            args.output, result.counts or {}, job_id=result.job_id, redis_url=args.redis_url
        )
        print(f"all counts written to {args.output}", file=sys.stderr)
    if result.failed:
        lines = "\n".join(f"  {f.path}: {f.error}" for f in result.failed)
        raise JobFailedError(f"{len(result.failed)} input(s) could not be counted:\n{lines}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.plugins import load_engine

    url = _require_url(args)
    if args.input_root:  # the worker reads them from there, before anything from Redis
        os.environ[ROOTS_ENV] = os.pathsep.join(given_roots(args.input_root))
    replication_cli.apply_worker(args)
    engine = load_engine(args.engine)
    crashpoints.install_from_env()
    client = connection.connect(url)
    connection.check(client, deadline_s=args.redis_timeout)
    from engine.flow.kind import is_flow_job  # a dataflow job: same command, other loop

    if is_flow_job(client, args.job, args.wait_for_job):
        from engine.flow import worker as flow

        return flow.run_worker(client, args.job, deadline_s=args.redis_timeout,
                               wait_for_job_s=args.wait_for_job)  # fmt: skip
    worker = engine.worker(
        client, args.job, deadline_s=args.redis_timeout, wait_for_job_s=args.wait_for_job
    )
    stats = worker.run()
    logging.getLogger("wordcount.worker").info("worker finished: %s", stats)
    return 0


def cmd_serial(args: argparse.Namespace) -> int:
    from engine.inputs import expand_inputs
    from engine.serial import count_tasks, ranked

    _chunk_bytes(args)  # a bad value is still an error, as it would be for run
    if args.output:
        check_output(args.output)
    tasks = expand_inputs(args.paths, csv_column=args.csv_column)
    counts = count_tasks(tasks, _tokenizer(args))
    _print_result(ranked(counts)[: args.top], args.output, counts)
    return 0


def _require_url(args: argparse.Namespace) -> str:
    if not args.redis_url:
        raise ConfigError(f"no Redis given: pass --redis-url URL or set ${URL_ENV}")
    return str(args.redis_url)


def cmd_status(args: argparse.Namespace) -> int:
    from engine.admin import job_status, list_jobs

    client = connection.connect(_require_url(args))
    connection.check(client)
    print(job_status(client, args.job) if args.job else list_jobs(client))
    return 0


def cmd_top(args: argparse.Namespace) -> int:
    from engine.job import require_job
    from engine.keys import JobKeys
    from engine.results import read_counts, top_words

    client = connection.connect(_require_url(args))
    connection.check(client)
    keys = JobKeys(args.job)
    if args.output:
        check_output(args.output)
    require_job(client, keys)
    print(format_top(top_words(client, keys, args.top)))
    if args.output:
        write_counts(args.output, read_counts(client, keys))
        print(f"all counts written to {args.output}", file=sys.stderr)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from engine.admin import delete_job

    client = connection.connect(_require_url(args))
    connection.check(client)
    print(f"deleted {delete_job(client, args.job)} keys of job {args.job}")
    return 0


def console() -> None:
    """The ``wordcount`` command: :func:`main`, then a quick exit (engine/quickexit.py)."""
    from engine.quickexit import exit_now

    exit_now(main())


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """One parser per process: a worker forked from the driver reuses the driver's
    (building it took 0.02 s, per worker)."""
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(name)s: %(message)s")
    try:
        if hasattr(args, "redis_url"):
            args.redis_url = redisopts.resolve(args)
        return int(args.func(args))
    except WordCountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except interrupt.Terminated as exc:
        print("terminated: workers stopped", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
