"""MapReduce mode, without Redis: partition files, determinism, partitioning, and what a
crash or a full disk leaves behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.count import Tally
from engine.inputs import expand_inputs, iter_blocks
from engine.mapreduce import files, mapcount
from engine.tokenize import Tokenizer

TEXT = (
    b"caf\xe9 caf\xc3\xa9 the The the\tTHE \xe3\x80\x80ideo\xe3\x80\x80 x\n" * 50
    + b" ".join(b"w%d" % (i % 997) for i in range(20_000))
)


def _parts(path: Path, tokenizer: Tokenizer, m: int) -> list[bytes]:
    task = expand_inputs([str(path)])[0]
    words, counts = mapcount.count_blocks(iter_blocks(task), tokenizer)
    return [b"".join(bytes(p) for p in files.encode(w, n))
            for w, n in mapcount.split(words, counts, m)]  # fmt: skip


@pytest.mark.parametrize("tokenizer", [Tokenizer(), Tokenizer("space", lower=True)])
def test_partitions_hold_the_serial_count_each_word_once(
    tmp_path: Path, tokenizer: Tokenizer
) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(TEXT)
    parts = _parts(path, tokenizer, 4)
    total: Counter[bytes] = Counter()
    for raw in parts:
        words, counts = files.decode(raw)
        assert len(set(words.to_pylist())) == len(words)  # each word once per file
        for w, n in zip(words.to_pylist(), counts.to_pylist(), strict=True):
            assert w not in total  # ... and in one partition only
            total[w] = n
    text = TEXT.decode("utf-8", "surrogateescape")
    expected = Counter(w.encode("utf-8", "surrogateescape") for w in tokenizer.words(text))
    assert total == expected


def test_same_input_same_bytes_in_a_warm_and_a_fresh_process(tmp_path: Path) -> None:
    """A re-executed map must rename the very same bytes over the first output, even in a
    process whose earlier work switched the stream mode's counter to another path."""
    path = tmp_path / "in.txt"
    path.write_bytes(TEXT)
    warm = Tally(Tokenizer())
    warm.add(b"x " * (5 << 20))  # past the stream mode's Python warm-up
    first = _parts(path, Tokenizer(), 3)
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, 'tests');"
        "from test_mapreduce_files import _parts; from engine.tokenize import Tokenizer;"
        f"sys.stdout.buffer.write(b'|'.join(x.hex().encode() for x in _parts(Path({str(path)!r}),"
        " Tokenizer(), 3)))"
    )
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert [bytes.fromhex(x.decode()) for x in fresh.stdout.split(b"|")] == first


def test_words_spread_over_partitions() -> None:
    import pyarrow as pa

    words = pa.array([b"w%d" % i for i in range(10_000)], pa.large_binary())
    sizes = Counter(mapcount.partition_of(words, 8).tolist())
    assert set(sizes) == set(range(8))
    assert max(sizes.values()) < 2 * min(sizes.values())


def _write(tmp_path: Path, after_temp: object = None) -> list[files.FileRecord]:
    import pyarrow as pa

    words = pa.array([b"a", b"bb"], pa.large_binary())
    parts = [files.encode(words, pa.array([1, 2]).to_numpy()) for _ in range(3)]
    if after_temp is None:
        return files.write_all(tmp_path, 7, parts)
    return files.write_all(tmp_path, 7, parts, after_temp)  # type: ignore[arg-type]


def test_crash_mid_write_leaves_no_visible_output(tmp_path: Path) -> None:
    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        _write(tmp_path, crash)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("mr-")]


def test_full_disk_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    with pytest.raises(files.IntermediateError, match="no space left") as caught:
        _write(tmp_path)
    assert str(tmp_path) in str(caught.value) and "--intermediate" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_damaged_or_lost_files_fail_their_check(tmp_path: Path) -> None:
    record = _write(tmp_path)[1]
    path = tmp_path / files.file_name(7, 1)
    good = path.read_bytes()
    assert files.read_checked(path, record) == good
    path.write_bytes(good[:-1])
    assert files.read_checked(path, record) is None
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert files.read_checked(path, record) is None
    path.write_bytes(good + b"x")
    assert files.read_checked(path, record) is None
    path.unlink()
    assert files.read_checked(path, record) is None


def test_unwritable_intermediate_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(files.IntermediateError, match="--intermediate"):
        files.prepare(blocker / "job")
