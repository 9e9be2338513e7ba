"""Large text files split into byte-range tasks: no word cut, none counted twice.

The core property needs no Redis: for arbitrary bytes and every chunk size, the serial
counts of the chunk tasks add up to the serial count of the whole file, under every
tokenizer setting. One run through real Redis checks that the workers read the ranges the
same way, and the fault suite's reference is checked to be indexed like the engine's tasks.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cli import main, parse_size
from engine.count import Tally
from engine.driver import RunOptions, run
from engine.errors import ConfigError, JobConflictError
from engine.inputs import byte_ranges, expand_inputs, iter_blocks
from engine.job import JobSettings
from engine.serial import count_task, count_tasks
from engine.tasks import Task
from engine.tokenize import SAFE_CUT_BYTES, Tokenizer, decode
from faults import scenario_json
from faults.client import driver_argv
from faults.dataset import reference, task_ranges, write
from faults.errors import ScenarioError
from faults.generate import generate_scenario
from faults.scenario import Dataset, FileSpec, Generated, Settings

TOKENIZERS = [Tokenizer(on, lower) for on in ("whitespace", "space") for lower in (False, True)]
# Pieces that stress a cut: invalid and truncated UTF-8, Unicode spaces (which "space"
# keeps inside words), CRLF, a capital sigma (whose lower case depends on its neighbours),
# and ASCII whitespace that is not a safe cut byte.
PIECES = [
    b"a", b"Bc", b"\xc3\xa9", b"\xce\xa3", b"\xff", b"\xc3", b"\xe3\x80", b"\x80",
    b" ", b"  ", b"\n", b"\r\n", b"\r", b"\t", b"\x0b", b"\x1c", b"\xe3\x80\x80", b"\xc2\x85",
    b"\xc2\xa0", b"\xe2\x80\xa8",
]  # fmt: skip
CONTENTS = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
    st.binary(max_size=120),
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chunks")


def _file(directory: Path, data: bytes, name: str = "in.txt") -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _check_ranges(data: bytes, tasks: list[Task], chunk: int) -> None:
    """Consecutive indexes; contiguous ranges covering the file; cuts after safe bytes."""
    assert [t.index for t in tasks] == list(range(len(tasks)))
    if len(tasks) == 1:
        assert (tasks[0].start, tasks[0].end, tasks[0].size) == (0, -1, len(data))
        return
    assert tasks[0].start == 0 and tasks[-1].end == len(data)
    for before, after in itertools.pairwise(tasks):
        assert before.end == after.start
        assert data[after.start - 1] in SAFE_CUT_BYTES  # never starts mid-word
        assert before.size == before.end - before.start >= chunk


# --- the core property: no Redis ------------------------------------------------------


@settings(max_examples=150)
@given(data=CONTENTS)
def test_chunks_add_up_to_the_whole_file_for_every_chunk_size(workdir: Path, data: bytes) -> None:
    path = _file(workdir, data)
    whole = {tok: count_task(Task(0, str(path)), tok) for tok in TOKENIZERS}
    for chunk in range(1, len(data) + 2):
        tasks = expand_inputs([str(path)], chunk_bytes=chunk)
        _check_ranges(data, tasks, chunk)
        for tok in TOKENIZERS:
            assert count_tasks(tasks, tok) == whole[tok], (chunk, tok)


@settings(max_examples=60)
@given(data=CONTENTS, chunk=st.integers(1, 130), block=st.integers(1, 40))
def test_workers_read_the_ranges_the_serial_way(
    workdir: Path, data: bytes, chunk: int, block: int
) -> None:
    """The worker's path: blocks of a range read in small pieces, counted by the tally."""
    path = _file(workdir, data)
    tasks = expand_inputs([str(path)], chunk_bytes=chunk)
    for tok in TOKENIZERS:
        tally = Tally(tok)
        for task in tasks:
            for piece in iter_blocks(task, block):
                tally.add(piece)
        counted = Counter({decode(word): n for word, n in tally.items()})
        assert counted == count_task(Task(0, str(path)), tok)


def test_byte_ranges_are_at_least_the_chunk_and_end_after_a_safe_byte() -> None:
    data = b"one two  three\nfour\r\nfive"
    assert byte_ranges(io.BytesIO(data), len(data), 5) == [(0, 8), (8, 15), (15, 20), (20, 25)]
    assert byte_ranges(io.BytesIO(data), len(data), 1) == [
        (0, 4), (4, 8), (8, 9), (9, 15), (15, 20), (20, 21), (21, 25),
    ]  # fmt: skip
    assert byte_ranges(io.BytesIO(b""), 0, 3) == []


def test_a_file_without_a_safe_byte_stays_one_task(tmp_path: Path) -> None:
    path = _file(tmp_path, b"x" * 5000 + b"\t\x0b\xe3\x80\x80" * 100)
    assert expand_inputs([str(path)], chunk_bytes=16) == expand_inputs([str(path)])
    # A cut only at the very last byte leaves nothing for a second range.
    path.write_bytes(b"y" * 5000 + b"\n")
    assert len(expand_inputs([str(path)], chunk_bytes=16)) == 1


def test_csv_empty_and_small_files_are_not_split(tmp_path: Path) -> None:
    _file(tmp_path, b"text\n" + b"a b c d e f\n" * 100, "a.csv")
    _file(tmp_path, b"", "b.txt")
    _file(tmp_path, b"tiny file", "c.txt")
    _file(tmp_path, b"w " * 100, "d.txt")
    tasks = expand_inputs([str(tmp_path)], csv_column="text", chunk_bytes=50)
    assert [t.index for t in tasks] == list(range(len(tasks)))
    assert [Path(t.path).name for t in tasks[:3]] == ["a.csv", "b.txt", "c.txt"]
    assert all((t.start, t.end) == (0, -1) for t in tasks[:3])
    d = tasks[3:]
    assert len(d) == 4 and sum(t.size for t in d) == 200 and d[-1].end == 200


def test_chunk_size_is_checked() -> None:
    with pytest.raises(ConfigError, match="chunk size -1"):
        expand_inputs([], chunk_bytes=-1)
    with pytest.raises(ConfigError, match="chunk-size must be 0 or more, got -5"):
        JobSettings(chunk_bytes=-5)
    assert JobSettings.from_json(JobSettings(chunk_bytes=7).to_json()).chunk_bytes == 7


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("1048576", 1 << 20), ("16MB", 16 << 20), ("512KB", 512 << 10),
     ("64k", 64 << 10), ("2 MiB", 2 << 20), ("1.5GB", 3 << 29), ("10B", 10)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["abc", "-1", "16TB", "MB", "", "1e6"])
def test_bad_chunk_size_is_one_error_line(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, b"a b")
    assert main(["run", str(path), "--chunk-size", text, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --chunk-size {text!r} is not a size") and "16MB" in err


def test_serial_accepts_and_ignores_chunk_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path, b"b a b " * 50)
    assert main(["serial", str(path)]) == 0
    plain = capsys.readouterr().out
    assert main(["serial", str(path), "--chunk-size", "16"]) == 0
    assert capsys.readouterr().out == plain and "100" in plain
    assert main(["serial", str(path), "--chunk-size", "x"]) == 2


# --- through real Redis ---------------------------------------------------------------


def _mixed_corpus(directory: Path) -> Iterator[Path]:
    pieces = [p.decode("utf-8", "surrogateescape") for p in PIECES]
    for i in range(3):
        words = [f"w{(i * 7 + k * k) % 97}{pieces[k % len(pieces)]}" for k in range(6000)]
        yield _file(directory, " ".join(words).encode("utf-8", "surrogateescape"), f"{i}.txt")


@pytest.mark.parametrize(
    "tokenizer", [Tokenizer(), Tokenizer("space", lower=True)], ids=["whitespace", "space-lower"]
)
def test_chunked_run_equals_serial(
    tokenizer: Tokenizer, tmp_path: Path, redis_url: str, job_id: str
) -> None:
    paths = [str(p) for p in _mixed_corpus(tmp_path)]
    chunk = 4096
    tasks = expand_inputs(paths, chunk_bytes=chunk)
    assert len(tasks) > 3 * 5
    options = RunOptions(
        paths, workers=2, redis_url=redis_url, job_id=job_id, tokenizer=tokenizer,
        read_all=True, progress=False, chunk_bytes=chunk,
    )  # fmt: skip
    result = run(options)
    assert result.info.state == "done" and result.failed == []
    assert (result.info.n_tasks, result.info.tasks_done) == (len(tasks), len(tasks))
    assert result.info.bytes_done == sum(Path(p).stat().st_size for p in paths)
    assert result.counts == count_tasks(expand_inputs(paths), tokenizer)
    with pytest.raises(JobConflictError, match="chunk_bytes: 4096 there, 0 here"):
        run(RunOptions(paths, redis_url=redis_url, job_id=job_id, tokenizer=tokenizer,
                       progress=False, chunk_bytes=0))  # fmt: skip


# --- the fault suite with chunking on -------------------------------------------------


def _chunked_dataset() -> Dataset:
    return Dataset(
        files=(FileSpec("x.csv", b"text\n" + b"a b\n" * 200), FileSpec("y.txt", b"solo")),
        generated=Generated(seed=3, files=2, words=300),
    )


def test_task_ranges_are_the_engines_tasks(tmp_path: Path) -> None:
    dataset = _chunked_dataset()
    write(dataset, tmp_path)
    tasks = expand_inputs([str(tmp_path)], csv_column="text", chunk_bytes=200)
    ranges = task_ranges(dataset, 200)
    assert len(ranges) == len(tasks) > 4
    for (name, rng), task in zip(ranges, tasks, strict=True):
        assert name == Path(task.path).name
        assert rng == (None if task.end == -1 else (task.start, task.end))


def test_reference_is_per_chunk_and_sums_to_the_files() -> None:
    dataset = _chunked_dataset()
    plain = Settings(csv_column="text")
    chunked = Settings(csv_column="text", chunk_bytes=200)
    per_chunk, per_file = reference(dataset, chunked), reference(dataset, plain)
    assert len(per_chunk) > len(per_file) == 4
    assert sum(per_chunk, Counter()) == sum(per_file, Counter())


def test_scenario_task_indexes_follow_the_chunks() -> None:
    fault = "worker.after_count@9#1:crash"
    data = {"name": "c", "dataset": {"generated": {"seed": 1, "files": 2}}, "faults": [fault]}
    message = "task 9 does not exist: the dataset has tasks 0..1"
    with pytest.raises(ScenarioError, match=re.escape(message)):
        scenario_json.load(json.dumps(data))
    data["settings"] = {"chunk_bytes": 256}
    scenario = scenario_json.load(json.dumps(data))
    assert scenario.n_tasks() > 9 and len(scenario.task_names()) == scenario.n_tasks()
    assert scenario.task_names()[0].startswith("gen-000.txt[0:")
    assert scenario_json.load(scenario_json.dump(scenario)) == scenario
    assert '"chunk_bytes": 256' in scenario_json.dump(scenario)
    data["settings"] = {"chunk_bytes": -3}
    with pytest.raises(ScenarioError, match=re.escape("settings.chunk_bytes = -3")):
        scenario_json.load(json.dumps(data))


def test_driver_gets_the_chunk_size_and_generation_uses_it() -> None:
    scenario = generate_scenario(1)
    argv = driver_argv(scenario, "/data", "job")
    assert argv[argv.index("--chunk-size") + 1] == str(scenario.settings.chunk_bytes)
    sizes = {generate_scenario(seed).settings.chunk_bytes for seed in range(40)}
    assert 0 in sizes and any(64 <= s <= 2048 for s in sizes)
