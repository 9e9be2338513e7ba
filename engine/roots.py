"""Input roots: the only places a worker will read files from.

Task paths come from Redis, so whoever can write to that Redis could otherwise make a
worker read any file the worker's user can read, and read the counts back. A worker refuses
(dead-letters, with the reason) any task whose path, after resolving symbolic links, is not
inside one of its input roots.

Where a worker's roots come from, most trusted first: ``$WORDCOUNT_INPUT_ROOTS`` (how the
driver hands them to the workers it starts, and how ``wordcount worker --input-root`` sets
them), then the roots recorded in the job's settings (which a Redis writer can change too:
see docs/security.md). A job that records none (created through the API) is unrestricted.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import tempfile
from collections.abc import Iterable, Sequence

from engine.errors import ConfigError, InputError
from engine.tasks import Task

ROOTS_ENV = "WORDCOUNT_INPUT_ROOTS"
"""Input roots for this process's workers, separated by :data:`os.pathsep`; or ``@FILE``,
a file holding them separated by NUL bytes (see :class:`WorkerRoots`)."""
ENV_LIMIT = 32_768
"""Longest roots text handed over in the environment itself. Linux refuses to start a
program (E2BIG) with one environment string over 128 KiB, and ``wordcount run dir/*.txt``
unquoted gives the driver each file as its own root: 2,000 files of 90-byte paths pass it."""


def default_roots(specs: Sequence[str], tasks: Iterable[Task]) -> tuple[str, ...]:
    """The roots of what ``run`` was given: each directory, each file, and the fixed
    directory part of each glob, resolved; plus any input file that a symbolic link inside
    them leads out of, since the user asked for it too."""
    roots = [os.path.realpath(_fixed_part(spec)) for spec in specs]
    chosen = normalise(roots)
    extra = [os.path.realpath(t.path) for t in tasks]
    return normalise([*chosen, *(path for path in extra if not inside(path, chosen))])


def job_roots(specs: Sequence[str], tasks: Sequence[Task], given: Sequence[str]) -> tuple[str, ...]:
    """The roots a job records: ``--input-root`` if given (every input must be inside),
    else :func:`default_roots`."""
    if not given:
        return default_roots(specs, tasks)
    roots = given_roots(given)
    for task in tasks:
        if not inside(os.path.realpath(task.path), roots):
            raise ConfigError(
                f"input {task.path} is outside --input-root {', '.join(roots)}: "
                "leave it out or give its directory as another --input-root"
            )
    return roots


def given_roots(texts: Sequence[str]) -> tuple[str, ...]:
    """``--input-root`` values, which must exist (a typo must not refuse every task)."""
    for text in texts:
        if not os.path.exists(text):
            raise ConfigError(f"--input-root {text}: no such file or directory")
    return normalise([os.path.realpath(text) for text in texts])


def normalise(roots: Iterable[str]) -> tuple[str, ...]:
    """Sorted, without duplicates or roots inside other roots."""
    unique = sorted(set(roots))
    return tuple(r for r in unique if not any(o != r and inside(r, [o]) for o in unique))


def inside(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (both already resolved)."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _fixed_part(spec: str) -> str:
    """The part of a path before its first glob character, cut at a directory."""
    if not glob.has_magic(spec):
        return spec
    parts = spec.split(os.sep)
    fixed = [p for p in _until_magic(parts)]
    return os.sep.join(fixed) or (os.sep if spec.startswith(os.sep) else ".")


def _until_magic(parts: list[str]) -> Iterable[str]:
    for part in parts:
        if glob.has_magic(part):
            return
        yield part


class WorkerRoots:
    """The value of :data:`ROOTS_ENV` for the workers a driver starts: the roots
    themselves, or past :data:`ENV_LIMIT` ``@FILE``, a file only this user can read, which
    :meth:`close` removes. A root is a resolved path, so it never starts with ``@``."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.path: str | None = None
        self.value = os.pathsep.join(roots)
        if len(self.value) > ENV_LIMIT:
            fd, self.path = tempfile.mkstemp(prefix="wordcount-roots-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as out:
                out.write("\0".join(roots))
            self.value = "@" + self.path

    def close(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


def worker_roots(recorded: Sequence[str]) -> tuple[str, ...]:
    """This worker's roots: the environment's if set, else the job's."""
    text = os.environ.get(ROOTS_ENV)
    return _from_env(text) if text else tuple(recorded)


@functools.lru_cache(maxsize=4)
def _from_env(text: str) -> tuple[str, ...]:
    """The roots :data:`ROOTS_ENV` gives (read once: a worker asks for every task)."""
    if not text.startswith("@"):
        return tuple(r for r in text.split(os.pathsep) if r)
    try:
        with open(text[1:], encoding="utf-8", errors="surrogateescape") as f:
            return tuple(r for r in f.read().split("\0") if r)
    except OSError as exc:  # refusing every task would lose the job's inputs
        raise ConfigError(
            f"${ROOTS_ENV} names {text[1:]}, which cannot be read ({exc.strerror or exc}): "
            "start the worker from its driver, or give it --input-root"
        ) from exc


def check_task(task: Task, roots: Sequence[str]) -> None:
    """Refuse a task outside the roots (no roots: no limit)."""
    if not roots:
        return
    real = os.path.realpath(task.path)
    if not inside(real, roots):
        shown = task.path if real == task.path else f"{task.path} (really {real})"
        raise InputError(
            f"{shown} is outside the input roots ({', '.join(roots)}): refused; a task that "
            "points there was not added by this job's driver, or give the worker --input-root"
        )
