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

import glob
import os
from collections.abc import Iterable, Sequence

from engine.errors import ConfigError, InputError
from engine.tasks import Task

ROOTS_ENV = "WORDCOUNT_INPUT_ROOTS"
"""Input roots for this process's workers, separated by :data:`os.pathsep`."""


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


def worker_roots(recorded: Sequence[str]) -> tuple[str, ...]:
    """This worker's roots: the environment's if set, else the job's."""
    text = os.environ.get(ROOTS_ENV)
    if text:
        return tuple(r for r in text.split(os.pathsep) if r)
    return tuple(recorded)


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
