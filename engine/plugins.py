"""The engine under test, as a plug-in: what ``--engine module:factory`` names.

The driver, the worker command and the fault suite reach the worker loop and the
bootstrap only through an :class:`Engine`, so a user can point the suite at their own
implementation (or at a deliberately broken one) without touching anything else.

The contract an implementation must meet:

- ``engine.bootstrap(client, keys, settings, tasks) -> JobInfo`` creates the job hash
  (``keys.job``, with ``settings`` stored as JSON under ``settings``, and ``state``,
  ``n_tasks``, ``tasks_done``, ``tasks_failed``, ``bytes_done``, ``bytes_total``), adds one
  stream entry per task to ``keys.tasks`` with a consumer group ``engine.keys.GROUP``, and
  sets the state to ``ready`` (``done``/``failed`` once every task is acknowledged or
  dead-lettered). It must be safe to run again after a crash at any point.
- ``engine.worker(client, job_id, consumer=..., deadline_s=..., wait_for_job_s=...)``
  returns an object whose ``run()`` works until the job is finished, then returns. It adds
  counts only to ``keys.counts`` (a sorted set, word bytes -> count), adds each acknowledged
  entry ID to ``keys.done``, dead-letters to ``keys.dead``, and calls the crash points of
  :mod:`engine.crashpoints` with the context the real worker passes (``consumer``,
  ``entry``, ``index``; and ``entries``/``indexes``/``accepted`` at the commit points).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import redis

from engine.errors import ConfigError
from engine.job import JobInfo, JobSettings
from engine.keys import JobKeys
from engine.tasks import Task

ENGINE_ENV = "WORDCOUNT_ENGINE"
DEFAULT_ENGINE = "engine.plugins:default"


class Runnable(Protocol):
    def run(self) -> Any: ...


@runtime_checkable
class Engine(Protocol):
    """A worker implementation and the bootstrap that goes with it."""

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo: ...

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable: ...


class DefaultEngine:
    """This project's engine."""

    def bootstrap(
        self, client: redis.Redis, keys: JobKeys, settings: JobSettings, tasks: Sequence[Task]
    ) -> JobInfo:
        from engine.job import bootstrap

        return bootstrap(client, keys, settings, tasks)

    def worker(self, client: redis.Redis, job_id: str, **options: Any) -> Runnable:
        from engine.mapreduce.dispatch import ModeWorker  # the worker of the job's --mode

        return ModeWorker(client, job_id, **options)


def default() -> Engine:
    return DefaultEngine()


def engine_spec(spec: str | None = None) -> str:
    """The spec to use: the argument, else $WORDCOUNT_ENGINE, else this project's engine."""
    return spec or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE


def load_engine(spec: str | None = None) -> Engine:
    """Import ``module:factory``, call it, and check that the result fits the contract."""
    spec = engine_spec(spec)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"--engine {spec!r}: write it as module:factory, e.g. {DEFAULT_ENGINE}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"--engine {spec!r}: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"--engine {spec!r}: {module_name} has no callable {attr!r}")
    try:
        engine = factory()
    except TypeError as exc:
        raise ConfigError(
            f"--engine {spec!r}: calling {attr}() with no arguments failed ({exc}); "
            "name a factory that takes none"
        ) from exc
    missing = [
        name for name in ("bootstrap", "worker") if not callable(getattr(engine, name, None))
    ]
    if missing:
        raise ConfigError(
            f"--engine {spec!r}: {attr}() returned {type(engine).__name__}, which lacks "
            f"{' and '.join(missing)}(); see the contract in engine/plugins.py"
        )
    return engine  # type: ignore[no-any-return]
