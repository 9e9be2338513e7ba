"""The two sizes every experiment runs at: ``small`` (a CI smoke test) and ``full``.

One place holds every size, so that an experiment reads as what it measures, and so that
``--scale small`` keeps ``python -m benchmarks all`` well under a minute on two cores.
"""

from __future__ import annotations

import dataclasses

KB = 1000
MB = 1000 * KB


def human(nbytes: float) -> str:
    """1500000 -> '1.5 MB': sizes as the tables and targets name them."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{nbytes:.0f} B"


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    total_bytes: int
    """The main corpus: this many bytes in ``n_files`` equal files."""
    n_files: int
    workers: tuple[int, ...]
    """Worker counts of the efficiency sweep."""
    input_fractions: tuple[float, ...]
    """Input sizes of the size sweep, as fractions of ``total_bytes``."""
    file_sizes: tuple[int, ...]
    """Per-file sizes of the file-size sweep (same total, capped at ``max_files`` files)."""
    max_files: int
    small_files: int
    """The small-file case of the throughput target (the issue's 100 KB)."""
    large_files: int
    """The large-file case it is compared with (the issue's 100 MB)."""
    commit_files: tuple[int, int]
    """(count, size) of the commit-granularity corpus: many small tasks, as commits cost."""
    straggler_workers: tuple[int, ...]
    claim_timeouts_ms: tuple[int, ...]
    persistence_modes: tuple[str, ...]
    kill_every_s: tuple[float, ...]
    memory_single_bytes: int
    """The single large file of the memory target (the issue's 2 GB)."""
    memory_noline_bytes: int
    """The file without a newline of the memory target (the issue's 200 MB)."""
    chunk_size: str
    """``--chunk-size`` for the skew and single-file runs, when the engine has the option."""
    peer_corpora: tuple[str, ...]
    """Corpora of the peer comparison: ``zipf`` (generated) and ``gutenberg``."""
    repeat: int
    """Runs per contender where a ratio is taken; the fastest counts."""
    timeout_s: float


SMALL = Scale(
    name="small",
    total_bytes=3 * MB,
    n_files=20,
    workers=(1, 2),
    input_fractions=(0.25, 1.0),
    file_sizes=(10 * KB, 1500 * KB),
    max_files=300,
    small_files=10 * KB,
    large_files=1500 * KB,
    commit_files=(20, 4 * KB),
    straggler_workers=(2,),
    claim_timeouts_ms=(200, 600),
    persistence_modes=("none", "aof-always"),
    kill_every_s=(0.4,),
    memory_single_bytes=8 * MB,
    memory_noline_bytes=4 * MB,
    chunk_size="1MB",
    peer_corpora=("zipf",),
    repeat=1,
    timeout_s=60,
)

FULL = Scale(
    name="full",
    total_bytes=200 * MB,
    n_files=20,
    workers=(1, 2, 3, 4, 6, 8),
    input_fractions=(0.1, 0.25, 0.5, 1.0),
    file_sizes=(100, 1 * KB, 10 * KB, 100 * KB, 1 * MB, 10 * MB, 100 * MB),
    max_files=2000,
    small_files=100 * KB,
    large_files=100 * MB,
    commit_files=(500, 10 * KB),
    straggler_workers=(2, 4),
    claim_timeouts_ms=(500, 10_000),
    persistence_modes=("none", "snapshot:100", "snapshot:1000", "aof-everysec", "aof-always"),
    kill_every_s=(1.0, 3.0),
    memory_single_bytes=2000 * MB,
    memory_noline_bytes=200 * MB,
    chunk_size="16MB",
    peer_corpora=("zipf", "gutenberg"),
    repeat=2,
    timeout_s=900,
)

SCALES = {s.name: s for s in (SMALL, FULL)}
