"""Datasets: generating file contents from a seed, writing them, and their reference counts.

Generation is a pure function of :class:`~faults.scenario.Generated` (it uses only its own
``random.Random(seed)``), so a scenario can carry five numbers instead of kilobytes of
text and still replay byte for byte. The reference counts come from :mod:`engine.serial`
over the very files the engine is given, so the oracle and the system under test agree on
which file is which task, and which byte range of a split file is which task.
"""

from __future__ import annotations

import csv
import io
import os
import random
from collections import Counter
from pathlib import Path

from engine.inputs import byte_ranges, expand_inputs, input_kind, splits
from engine.serial import count_task, count_tasks
from engine.tokenize import Tokenizer
from faults.errors import RunnerError
from faults.scenario import Dataset, FileSpec, Generated, Settings

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Pieces that make words hard for a tokenizer: accents and case pairs that lower() maps
# (and the German sharp s, whose upper case is two letters), CJK, and bytes that are not
# UTF-8 at all (a stray continuation byte, a truncated sequence, 0xff).
_EXOTIC_PIECES = ["é", "ß", "Ä", "日本", "ǅ", "\udcff", "\udcc3", "\udc80"]
# Separators: str.split() whitespace including the ASCII information separators and
# Unicode spaces, which split_on="space" keeps inside words.
_EXOTIC_SEPARATORS = ["\t", "\r\n", "\u3000", "\x0b", "\x1c", "\u0085", "  "]


def generate_files(params: Generated) -> list[FileSpec]:
    """The files ``params`` describes, always the same bytes for the same parameters."""
    rng = random.Random(params.seed)
    vocabulary = _vocabulary(rng, params.vocabulary, params.exotic)
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    files = []
    for i in range(params.files):
        words = rng.choices(vocabulary, weights, k=params.words)
        files.append(FileSpec(f"gen-{i:03d}.txt", _join(rng, words, params.exotic)))
    plain = [w for w in vocabulary if w.isascii()] or ["plain"]
    for i in range(params.csv_files):
        words = rng.choices(plain, k=params.words)
        files.append(FileSpec(f"gen-{i:03d}.csv", _csv(rng, words)))
    return files


def _vocabulary(rng: random.Random, size: int, exotic: bool) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 9)))
        if exotic and rng.random() < 0.25:
            cut = rng.randint(0, len(word))
            word = word[:cut] + rng.choice(_EXOTIC_PIECES) + word[cut:]
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _join(rng: random.Random, words: list[str], exotic: bool) -> bytes:
    parts: list[str] = []
    for n, word in enumerate(words):
        parts.append(word)
        if exotic and rng.random() < 0.1:
            parts.append(rng.choice(_EXOTIC_SEPARATORS))
        else:
            parts.append("\n" if n % 12 == 11 else " ")
    return "".join(parts).encode("utf-8", "surrogateescape")


def _csv(rng: random.Random, words: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "text"])
    row = 0
    while words:
        take = rng.randint(1, 8)
        writer.writerow([row, " ".join(words[:take])])
        words, row = words[take:], row + 1
    return out.getvalue().encode("utf-8")


def all_files(dataset: Dataset) -> list[FileSpec]:
    """Explicit files, then generated ones."""
    generated = generate_files(dataset.generated) if dataset.generated else []
    return [*dataset.files, *generated]


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


def task_ranges(dataset: Dataset, chunk_bytes: int) -> list[tuple[str, tuple[int, int] | None]]:
    """Each task's file name and byte range (``None``: the whole file), in task order, as
    the engine splits the files with ``chunk_bytes``; computed in memory, without files."""
    files = {spec.name: spec.data for spec in all_files(dataset)}
    tasks: list[tuple[str, tuple[int, int] | None]] = []
    for name in sorted(files):
        data = files[name]
        ranges = []
        if splits(input_kind(name), len(data), chunk_bytes):
            ranges = byte_ranges(io.BytesIO(data), len(data), chunk_bytes)
        tasks += [(name, r) for r in ranges] if len(ranges) > 1 else [(name, None)]
    return tasks


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
