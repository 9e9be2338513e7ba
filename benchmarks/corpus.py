"""Benchmark inputs: a seeded Zipf corpus, the Gutenberg books at the same size, layouts.

The generated corpus draws words from a fixed vocabulary with Zipf frequencies (the shape
of natural text) plus a stream of words that occur once (the long tail of names, typos and
numbers that real corpora have), so the number of distinct words keeps growing with the
input as it does in real text. Base corpora are cached on disk by their parameters; every
other layout (many small files, one skewed file, one huge file) is cut from a base corpus
into a scratch directory, so all layouts of one experiment hold exactly the same words.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

SEED = 20240601
VOCABULARY = 120_000
ZIPF_EXPONENT = 1.07
RARE_FRACTION = 0.01
"""Share of tokens that are new words, each seen once."""
WORDS_PER_LINE = 12
GUTENBERG = Path(os.environ.get("WORDCOUNT_BENCH_BOOKS", "/work/shared/data/gutenberg"))
_READ = 8 << 20


def cache_root() -> Path:
    """Where base corpora are kept between runs ($WORDCOUNT_BENCH_CACHE overrides)."""
    root = os.environ.get("WORDCOUNT_BENCH_CACHE")
    return Path(root) if root else Path(tempfile.gettempdir(), "wordcount-bench-cache")


def _vocabulary(rng: np.random.Generator) -> list[bytes]:
    """Distinct lower-case words, 1 to 12 letters, short ones more likely (as in English)."""
    lengths = np.minimum(1 + rng.geometric(0.22, size=VOCABULARY * 2), 12)
    letters = rng.integers(ord("a"), ord("z") + 1, size=(VOCABULARY * 2, 12), dtype=np.uint8)
    seen: dict[bytes, None] = {}
    for row, n in zip(letters, lengths, strict=True):
        seen.setdefault(row[:n].tobytes(), None)
        if len(seen) == VOCABULARY:
            break
    return list(seen)


class ZipfSource:
    """Text with Zipf word frequencies and a tail of unique words, from one seed."""

    def __init__(self, seed: int = SEED) -> None:
        rng = np.random.default_rng(seed)
        words = _vocabulary(rng)
        weights = 1.0 / np.arange(1, len(words) + 1) ** ZIPF_EXPONENT
        self.cdf = np.cumsum(weights / weights.sum())
        self.spaced = np.array([w + b" " for w in words], dtype=object)
        self.lined = np.array([w + b"\n" for w in words], dtype=object)

    def text(self, nbytes: int, stream: int) -> bytes:
        """About ``nbytes`` of text (cut at a word end), different for each ``stream``."""
        rng = np.random.default_rng([SEED, stream])
        parts: list[bytes] = []
        size, rare = 0, 0
        while size < nbytes:
            n = 1 << 18
            idx = np.minimum(np.searchsorted(self.cdf, rng.random(n)), len(self.cdf) - 1)
            breaks = rng.random(n) < 1 / WORDS_PER_LINE
            tokens = np.where(breaks, self.lined[idx], self.spaced[idx])
            unique = np.flatnonzero(rng.random(n) < RARE_FRACTION)
            tokens[unique] = [b"q%dx%x " % (stream, rare + i) for i in range(len(unique))]
            rare += len(unique)
            part = b"".join(tokens.tolist())
            parts.append(part)
            size += len(part)
        data = b"".join(parts)[:nbytes]
        return data[: data.rfind(b" ") + 1] + b"\n" if len(data) == nbytes else data


def _cached(name: str, build: Callable[[Path], None]) -> Path:
    """A cache directory built once: built under a temporary name, then renamed."""
    final = cache_root() / name
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        build(partial)
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if not final.is_dir():
            raise
    return final


def zipf_base(total: int, n_files: int) -> list[Path]:
    """The generated corpus: ``n_files`` files of ``total / n_files`` bytes each."""

    def build(where: Path) -> None:
        source = ZipfSource()
        for i in range(n_files):
            Path(where, f"part-{i:03d}.txt").write_bytes(source.text(total // n_files, i))

    return sorted(_cached(f"zipf-{SEED}-{total}-{n_files}", build).glob("*.txt"))


def gutenberg_base(total: int, n_files: int, books_bytes: int | None = None) -> list[Path]:
    """The Gutenberg books repeated until the same total, cut into ``n_files`` files.

    ``books_bytes`` keeps only the smallest books that fit in that many bytes, so that a
    small input already holds every word a larger one has.
    """
    books = gutenberg_books(books_bytes)

    def build(where: Path) -> None:
        cut(_cycle(books), where, [total // n_files] * n_files)

    name = f"gutenberg-{total}-{n_files}-{total_size(books)}"
    return sorted(_cached(name, build).glob("*.txt"))


def gutenberg_books(books_bytes: int | None = None) -> list[Path]:
    """The books, all of them or the smallest ones that fit in ``books_bytes``."""
    books = sorted(GUTENBERG.glob("*.txt"), key=lambda p: (p.stat().st_size, p.name))
    if not books:
        raise FileNotFoundError(f"no books in {GUTENBERG}: set WORDCOUNT_BENCH_BOOKS")
    if books_bytes is None:
        return sorted(books)
    chosen: list[Path] = []
    for book in books:
        if total_size([*chosen, book]) > books_bytes and chosen:
            break
        chosen.append(book)
    return sorted(chosen)


def _cycle(files: Sequence[Path]) -> Iterator[bytes]:
    """The files' bytes over and over, each ending in a line break so words never merge."""
    while True:
        for path in files:
            data = path.read_bytes()
            yield data if data.endswith(b"\n") else data + b"\n"


def stream(files: Iterable[Path], block: int = _READ) -> Iterator[bytes]:
    """The files' bytes one after another, in blocks."""
    for path in files:
        with open(path, "rb") as handle:
            while piece := handle.read(block):
                yield piece


def cut(source: Iterable[bytes], dest: Path, sizes: Sequence[int], prefix: str = "f") -> list[Path]:
    """Write files of (at least) the given sizes from the source bytes, each ending at a
    word end so no word is split; stops early if the source runs out."""
    dest.mkdir(parents=True, exist_ok=True)
    blocks = iter(source)
    buf = bytearray()
    paths = []
    width = len(str(len(sizes)))
    for i, size in enumerate(sizes):
        while len(buf) <= size and (more := next(blocks, None)) is not None:
            buf += more
        end = _word_end(buf, size)
        if end == 0:
            break
        path = dest / f"{prefix}{i:0{width}d}.txt"
        path.write_bytes(buf[:end])
        paths.append(path)
        del buf[:end]
    return paths


def _word_end(buf: bytearray, size: int) -> int:
    """The end of the first separator at or after ``size`` (or the whole buffer)."""
    if len(buf) <= size:
        return len(buf)
    cuts = [i for i in (buf.find(b" ", size), buf.find(b"\n", size)) if i >= 0]
    return min(cuts) + 1 if cuts else len(buf)


def big_file(files: Sequence[Path], dest: Path, size: int, *, newlines: bool = True) -> Path:
    """One file of ``size`` bytes from the files repeated; without line breaks if asked
    (every line break becomes a space, so the words are the same)."""
    with open(dest, "wb") as out:
        written = 0
        while written < size:
            for block in stream(files):
                block = block[: size - written]
                out.write(block if newlines else block.replace(b"\n", b" "))
                written += len(block)
                if written >= size:
                    break
        out.write(b"\n" if newlines else b" ")
    return dest


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A directory for one experiment's layouts, deleted afterwards (they can be large)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"scratch-{name}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def total_size(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths)
