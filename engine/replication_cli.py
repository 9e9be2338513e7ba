"""The command-line options of replication: ``--replicas`` and ``--sync-replicas``.

Kept apart from :mod:`engine.cli` so the options, their checks and their help live with
the feature. ``--sync-replicas`` reaches workers through ``$WORDCOUNT_SYNC_REPLICAS``
(:mod:`engine.replica_sync`), like the Redis URL, so a worker started by hand on another
host takes it the same way.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from engine.cluster_url import is_cluster_url
from engine.errors import ConfigError
from engine.replica_sync import SYNC_ENV

if TYPE_CHECKING:
    from engine.driver import RunOptions


def _sync_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sync-replicas",
        type=int,
        metavar="K",
        default=None,
        help="after each commit, WAIT until K replicas have it; commit again on the new "
        f"primary if not (default: ${SYNC_ENV} or 0)",
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        metavar="N",
        help="embedded mode: start a primary, N replicas and 3 Sentinels for the job "
        "(default 0: one plain Redis)",
    )
    _sync_option(parser)


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    _sync_option(parser)


def _sync_replicas(args: argparse.Namespace) -> int | None:
    k: int | None = args.sync_replicas
    if k is not None and k < 0:
        raise ConfigError(f"--sync-replicas must be 0 or more, got {k}")
    if k and is_cluster_url(args.redis_url or ""):
        raise ConfigError(
            "--sync-replicas is not supported with a redis+cluster:// URL (WAIT would ask "
            "another primary than the job's): drop it, or use a redis+sentinel:// group"
        )
    return k


def apply_run(args: argparse.Namespace, options: RunOptions) -> None:
    """Check the options against each other and put them into ``options``."""
    replicas: int = args.replicas
    if replicas < 0:
        raise ConfigError(f"--replicas must be 0 or more, got {replicas}")
    if replicas and args.redis_url:
        raise ConfigError(
            f"--replicas {replicas} starts an embedded group, and --redis-url names a running "
            "Redis: drop one (use a redis+sentinel:// URL for a group you run yourself)"
        )
    k = _sync_replicas(args)
    if k and not args.redis_url and k > replicas:
        raise ConfigError(
            f"--sync-replicas {k} waits for more replicas than --replicas {replicas} starts: "
            f"use --sync-replicas {replicas} or fewer, or more --replicas"
        )
    options.replicas = replicas
    if k is not None:
        options.worker_env[SYNC_ENV] = str(k)
        os.environ[SYNC_ENV] = str(k)  # the driver confirms the result the same way


def apply_worker(args: argparse.Namespace) -> None:
    """Hand ``--sync-replicas`` to the worker loop (which reads the environment)."""
    k = _sync_replicas(args)
    if k is not None:
        os.environ[SYNC_ENV] = str(k)
