"""The serial reference for a run's inputs: :mod:`engine.serial`, one count per file.

Counted as the files are written, before the run (the run's folder is gone by the time
the judge looks), with the tokenizer ``--split-on`` names.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from engine.serial import count_task
from engine.tasks import Task
from engine.tokenize import Tokenizer
from faults.grade.options import GradeOptions


def per_file(files: list[Path], options: GradeOptions) -> list[Counter[str]]:
    tokenizer = Tokenizer(options.split_on)
    column = "text" if options.input == "csv" else ""
    return [
        count_task(Task(i, str(p), options.input, column), tokenizer) for i, p in enumerate(files)
    ]
