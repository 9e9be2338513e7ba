"""The input files of a scenario as data, and the seeded generator that makes them.

A :class:`Dataset` is explicit files and/or :class:`Generated` parameters; generating is
a pure function of those (it uses only its own ``random.Random(seed)``), so a scenario can
carry five numbers instead of kilobytes of text and still replay byte for byte. This
module is the bottom of the scenario model: it imports no other module of this package.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import random
import re

from engine.inputs import byte_ranges, input_kind, splits
from faults.errors import ScenarioError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""A file or scenario name: one path component, no surprises for a shell."""


def _fail(message: str) -> None:
    raise ScenarioError(message)


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One input file, by name (its task index is its rank among the sorted names)."""

    name: str
    data: bytes

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            _fail(f"file name {self.name!r}: use letters, digits, '.', '_', '-' (no '/')")


@dataclasses.dataclass(frozen=True)
class Generated:
    """Parameters of :func:`faults.dataset.generate_files`, a pure function of them.

    ``exotic`` mixes in bytes that are not UTF-8, Unicode spaces, tabs and CRLF line ends;
    ``csv_files`` adds CSV files whose column ``text`` holds the words.
    """

    seed: int
    files: int = 4
    words: int = 400
    vocabulary: int = 60
    exotic: bool = True
    csv_files: int = 0

    def __post_init__(self) -> None:
        for field in ("files", "words", "vocabulary", "csv_files"):
            if getattr(self, field) < 0:
                _fail(f"generated.{field} = {getattr(self, field)}: must be 0 or more")
        if self.vocabulary < 1:
            _fail("generated.vocabulary must be at least 1 word")

    def names(self) -> list[str]:
        text = [f"gen-{i:03d}.txt" for i in range(self.files)]
        return text + [f"gen-{i:03d}.csv" for i in range(self.csv_files)]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Explicit files and/or generated ones, all written to one directory (maybe none)."""

    files: tuple[FileSpec, ...] = ()
    generated: Generated | None = None

    def __post_init__(self) -> None:
        names = self.names()  # none at all is a valid job: it finishes with no counts
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            _fail(f"dataset file names repeat: {', '.join(dupes)}; rename them")

    def names(self) -> list[str]:
        """Every file name, explicit then generated, unsorted."""
        generated = self.generated.names() if self.generated else []
        return [f.name for f in self.files] + generated

    def task_names(self, chunk_bytes: int = 0) -> list[str]:
        """Task names in task order: the engine sorts paths, and all share one directory.

        With ``chunk_bytes``, a file split into byte ranges gives one name per range,
        ``name[start:end]``, cut where the engine cuts (it is the engine's own splitting,
        run over the same bytes).
        """
        if chunk_bytes == 0:
            return sorted(self.names())
        return [
            name if rng is None else f"{name}[{rng[0]}:{rng[1]}]"
            for name, rng in task_ranges(self, chunk_bytes)
        ]


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Pieces that make words hard for a tokenizer: accents and case pairs that lower() maps
# (and the German sharp s, whose upper case is two letters), CJK, and bytes that are not
# UTF-8 at all (a stray continuation byte, a truncated sequence, 0xff).
_EXOTIC_PIECES = ["é", "ß", "Ä", "日本", "ǅ", "\udcff", "\udcc3", "\udc80"]
# Separators: str.split() whitespace including the ASCII information separators and
# Unicode spaces, which split_on="space" keeps inside words.
_EXOTIC_SEPARATORS = ["\t", "\r\n", "\u3000", "\x0b", "\x1c", "\u0085", "  "]


LARGE_VOCABULARY = 20_000
"""Above this many words, a vocabulary is made and drawn from by cheaper means (see
:func:`_large_vocabulary`), so that millions of distinct words cost about a second.
Smaller ones keep the original method, so saved scenarios replay byte for byte."""


def generate_files(params: Generated) -> list[FileSpec]:
    """The files ``params`` describes, always the same bytes for the same parameters."""
    return list(_generate(params))


@functools.lru_cache(maxsize=4)
def _generate(params: Generated) -> tuple[FileSpec, ...]:
    """Cached: a scenario's files are wanted by its task list, the writer, the reference
    and the coverage, and a large vocabulary takes a second to make."""
    rng = random.Random(params.seed)
    if params.vocabulary > LARGE_VOCABULARY:
        vocabulary = _large_vocabulary(rng, params.vocabulary, params.exotic)
    else:
        vocabulary = _vocabulary(rng, params.vocabulary, params.exotic)
    files = _large_files(rng, params, vocabulary) if params.vocabulary > LARGE_VOCABULARY else []
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))] if not files else []
    for i in range(params.files if not files else 0):
        words = rng.choices(vocabulary, weights, k=params.words)
        files.append(FileSpec(f"gen-{i:03d}.txt", _join(rng, words, params.exotic)))
    plain = [w for w in vocabulary if w.isascii()] or ["plain"]
    for i in range(params.csv_files):
        words = rng.choices(plain, k=params.words)
        files.append(FileSpec(f"gen-{i:03d}.csv", _csv(rng, words)))
    return tuple(files)


def _large_vocabulary(rng: random.Random, size: int, exotic: bool) -> list[str]:
    """``size`` distinct words: random stems (exotic ones included), each followed by two
    letters; stems are distinct and the tails all two letters long, so no two (stem, tail)
    pairs make the same word. List operations only: millions of words in about a second."""
    tails = ["".join(t) for t in itertools.product(_LETTERS, repeat=2)]
    rng.shuffle(tails)
    stems = _vocabulary(rng, -(-size // len(tails)) + 50, exotic)
    per_stem = -(-size // len(stems))
    words = [stem + tail for stem in stems for tail in tails[:per_stem]]
    return words[:size]


def _large_files(rng: random.Random, params: Generated, vocabulary: list[str]) -> list[FileSpec]:
    """Text files that run through a large vocabulary from a random start (most words
    once, an eighth of them twice), a thousand words a line; exotic ones put a Unicode
    space at the start of each line. Slices, not a draw per word: it must stay cheap."""
    files = []
    for i in range(params.files):
        start = rng.randrange(len(vocabulary))
        ring = vocabulary[start:] + vocabulary[:start]
        repeat = params.words // 8
        body = ring * (params.words // len(ring)) + ring[: params.words % len(ring)]
        words = body[: params.words - repeat] + body[:repeat]
        lines = [" ".join(words[n : n + 1000]) for n in range(0, len(words), 1000)]
        glue = "\n\u3000" if params.exotic else "\n"
        text = glue.join(lines) + ("\n" if lines else "")
        files.append(FileSpec(f"gen-{i:03d}.txt", text.encode("utf-8", "surrogateescape")))
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
    row = start = 0
    while start < len(words):  # an index, not words[take:]: that was quadratic
        take = rng.randint(1, 8)
        writer.writerow([row, " ".join(words[start : start + take])])
        start, row = start + take, row + 1
    return out.getvalue().encode("utf-8")


def all_files(dataset: Dataset) -> list[FileSpec]:
    """Explicit files, then generated ones."""
    generated = generate_files(dataset.generated) if dataset.generated else []
    return [*dataset.files, *generated]


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
