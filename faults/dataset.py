"""Datasets on disk and their reference counts: the oracle's side of a scenario.

The reference counts come from :mod:`engine.serial` over the very files the engine is
given, so the oracle and the system under test agree on which file is which task, and
which byte range of a split file is which task. (The files as data, and their seeded
generator, are in :mod:`faults.files`; their names are re-exported here.)
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from engine.inputs import expand_inputs
from engine.serial import count_task, count_tasks
from engine.tokenize import Tokenizer
from faults.errors import RunnerError
from faults.files import Dataset, all_files, generate_files, task_ranges
from faults.scenario import Settings

__all__ = ["all_files", "generate_files", "reference", "reference_in", "task_ranges", "write"]


def write(dataset: Dataset, directory: str | os.PathLike[str]) -> Path:
    """Write every file into ``directory`` (created if needed); returns it."""
    root = Path(directory)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for spec in all_files(dataset):
            (root / spec.name).write_bytes(spec.data)
    except OSError as exc:
        raise RunnerError(f"cannot write the dataset to {root}: {exc}") from exc
    return root


def reference_in(directory: str | os.PathLike[str], settings: Settings) -> list[Counter[str]]:
    """The serial count of each task of ``directory``, indexed like the engine's tasks.

    With ``chunk_bytes`` the tasks are the engine's byte ranges, each still counted by the
    serial counter over its own bytes; their sum must then equal the serial count of the
    whole files, or the ranges cut a word and a reference built on them would excuse it.
    """
    tokenizer = Tokenizer(settings.split_on, settings.lower)  # type: ignore[arg-type]
    column = settings.csv_column
    tasks = expand_inputs([str(directory)], csv_column=column, chunk_bytes=settings.chunk_bytes)
    counts = [count_task(task, tokenizer) for task in tasks]
    if settings.chunk_bytes:
        whole = count_tasks(expand_inputs([str(directory)], csv_column=column), tokenizer)
        summed: Counter[str] = Counter()
        for part in counts:
            summed.update(part)
        if summed != whole:
            raise RunnerError(
                f"the byte ranges of chunk size {settings.chunk_bytes} count differently from "
                f"the whole files ({sum(summed.values())} words, not {sum(whole.values())}): "
                "the engine's splitting cut a word"
            )
    return counts


def reference(dataset: Dataset, settings: Settings) -> list[Counter[str]]:
    """Per-task serial counts, from a private copy of the dataset (removed afterwards)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="faults-ref-") as tmp:
        return reference_in(write(dataset, tmp), settings)
