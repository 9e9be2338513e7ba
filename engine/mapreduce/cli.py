"""The options of ``wordcount run`` that belong to the MapReduce mode."""

from __future__ import annotations

import argparse
from typing import Any

from engine.mapreduce.engine import DEFAULT_MODE, INTERMEDIATE_ENV, MODES


def add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="stream: workers add counts to Redis batch by batch; mapreduce: map tasks write "
        "partition files, reduce tasks write each word's final count once; auto (default): "
        "mapreduce for inputs of 64 MB and more (see docs/mapreduce.md)",
    )
    run.add_argument(
        "--intermediate",
        metavar="DIR",
        help="mapreduce mode: where partition files go, on storage every worker can read "
        f"(default ${INTERMEDIATE_ENV} or the system's temp directory); removed at the end",
    )
    run.add_argument(
        "--reduces", type=int, default=0, metavar="M",
        help="mapreduce mode: reduce partitions (default: one per 128 MB, at least --workers)",
    )  # fmt: skip


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`engine.driver.RunOptions` fields these options set."""
    return {"mode": args.mode, "intermediate": args.intermediate, "reduces": args.reduces}
