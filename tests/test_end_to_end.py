"""Whole jobs, driver and worker processes included, compared word for word with the serial count.

Most runs go through :func:`engine.driver.run` against the session's Redis node; the
command line is run as a subprocess too, with its own embedded Redis, and its --output
files are read back.
"""

from __future__ import annotations

import csv
import os
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis

from engine.driver import RunOptions, RunResult, run
from engine.inputs import expand_inputs
from engine.keys import JobKeys
from engine.output import read_counts_file
from engine.serial import count_tasks, ranked
from engine.supervisor import URL_ENV
from engine.tokenize import Tokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 120

INVALID_UTF8 = (
    b"caf\xe9 caf\xc3\xa9 caf\xe9\n"  # Latin-1 and UTF-8 spellings: two different words
    b"\xff\xfe\xfd lone\x80byte \xe2\x80 truncated\xe2\x82\r\n"
    b"The the THE tab\tinside \xe3\x80\x80ideographic\xe3\x80\x80space\n"
)


def _serial(paths: Sequence[str | Path], tokenizer: Tokenizer, **kw: str) -> Counter[str]:
    return count_tasks(expand_inputs([str(p) for p in paths], **kw), tokenizer)


def _run(paths: Sequence[str | Path], redis_url: str, job_id: str, **kw: object) -> RunResult:
    options = RunOptions(
        paths=[str(p) for p in paths],
        redis_url=redis_url,
        job_id=job_id,
        read_all=True,
        progress=False,
        **kw,  # type: ignore[arg-type]
    )
    return run(options)


def _assert_exact(result: RunResult, expected: Counter[str], n_tasks: int) -> None:
    assert result.info.state == "done", result
    assert (result.info.n_tasks, result.info.tasks_done) == (n_tasks, n_tasks)
    assert result.info.tasks_failed == 0 and result.failed == []
    assert result.counts is not None
    missing = expected - result.counts
    extra = result.counts - expected
    assert not missing and not extra, f"missing {len(missing)}, extra {len(extra)} words"
    assert result.counts == expected
    assert result.top == ranked(expected)[:10]


@pytest.fixture(scope="module")
def gutenberg_serial(gutenberg_dir: Path) -> Counter[str]:
    return _serial([gutenberg_dir], Tokenizer())


# --- the books -------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_gutenberg_counts_equal_serial(
    gutenberg_dir: Path,
    gutenberg_serial: Counter[str],
    redis_url: str,
    redis_client: redis.Redis,
    job_id: str,
    workers: int,
) -> None:
    result = _run([gutenberg_dir], redis_url, job_id, workers=workers)
    n_books = len(list(gutenberg_dir.glob("*.txt")))
    _assert_exact(result, gutenberg_serial, n_books)
    sizes = sum(p.stat().st_size for p in gutenberg_dir.glob("*.txt"))
    assert result.info.bytes_done == result.info.bytes_total == sizes
    keys = JobKeys(job_id)
    assert redis_client.zcard(keys.counts) == len(gutenberg_serial)
    assert redis_client.scard(keys.done) == n_books
    assert not list(redis_client.scan_iter(keys.stage_pattern)), "staging hashes left behind"


def _cli(
    args: Sequence[str], *, cwd: Path, timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``python -m engine ...``; checks that nothing it started is still running after."""
    marker = secrets.token_hex(8)
    env = {k: v for k, v in os.environ.items() if k != URL_ENV}
    env["WORDCOUNT_TEST_CLI_RUN"] = marker
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=timeout,
    )
    assert not _processes_with(f"WORDCOUNT_TEST_CLI_RUN={marker}"), "the CLI left processes"
    return proc


def _processes_with(variable: str) -> list[str]:
    needle = b"\0" + variable.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in b"\0" + (entry / "environ").read_bytes():
                found.append(f"{entry.name} {(entry / 'comm').read_text().strip()}")
        except OSError:
            continue
    return found


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_cli_with_embedded_redis_writes_exact_output(
    gutenberg_dir: Path, tmp_path: Path, suffix: str
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "invalid.txt").write_bytes(INVALID_UTF8)
    (extra / "empty.txt").write_bytes(b"")
    out = tmp_path / f"counts{suffix}"
    proc = _cli(
        ["run", str(gutenberg_dir), str(extra), "--workers", "2", "--output", str(out)],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    expected = _serial([gutenberg_dir, extra], Tokenizer())
    n_tasks = len(list(gutenberg_dir.glob("*.txt"))) + 2
    assert f": done, {n_tasks} of {n_tasks} tasks counted" in proc.stderr
    assert read_counts_file(out) == dict(expected)
    # The top table: count and word, the word's invalid bytes shown as \xNN escapes.
    shown = [line.split(maxsplit=1) for line in proc.stdout.splitlines()]
    top = ranked(expected)[:10]
    assert [int(n) for n, _ in shown] == [n for _, n in top]
    assert [w for _, w in shown] == [
        w.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") for w, _ in top
    ]


def test_cli_serial_agrees_with_cli_run(gutenberg_dir: Path, tmp_path: Path) -> None:
    serial_out, run_out = tmp_path / "serial.json", tmp_path / "run.json"
    args = [str(gutenberg_dir), "--split-on", "space", "--lower", "--top", "5"]
    serial = _cli(["serial", *args, "--output", str(serial_out)], cwd=tmp_path)
    ran = _cli(["run", *args, "--workers", "2", "--output", str(run_out)], cwd=tmp_path)
    assert serial.returncode == 0 and ran.returncode == 0, serial.stderr + ran.stderr
    assert serial.stdout == ran.stdout
    assert read_counts_file(serial_out) == read_counts_file(run_out)


# --- inputs and settings ---------------------------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "note"])
        writer.writeheader()
        writer.writerows(rows)


def test_csv_column(gutenberg_dir: Path, tmp_path: Path, redis_url: str, job_id: str) -> None:
    book = sorted(gutenberg_dir.glob("*.txt"))[0]
    lines = book.read_text("utf-8", "surrogateescape").splitlines()[:3000]
    rows = [{"id": str(i), "text": line, "note": "NOTE-ONLY"} for i, line in enumerate(lines)]
    rows += [
        {"id": "q", "text": 'a "quoted, cell"\nover two lines', "note": "x"},
        {"id": "u", "text": "caf\u00e9 \u65e5\u672c caf\udce9 \u3000wide", "note": ""},
        {"id": "n", "text": "", "note": "empty text"},
        {"id": "d", "text": "12 3.5 NaN null", "note": ""},
    ]
    _write_csv(tmp_path / "lines.csv", rows)
    (tmp_path / "plain.txt").write_text("plain text file counted whole NOTE-ONLY\n")
    expected = _serial([tmp_path], Tokenizer(), csv_column="text")
    assert expected["NOTE-ONLY"] == 1  # from plain.txt only: the note column is not read
    assert expected["caf\udce9"] == 1 and expected["NaN"] == 1
    result = _run([tmp_path], redis_url, job_id, workers=2, csv_column="text")
    _assert_exact(result, expected, 2)


@pytest.mark.parametrize(
    ("split_on", "lower"),
    [("space", False), ("whitespace", True), ("space", True)],
    ids=["space", "lower", "space-lower"],
)
def test_split_on_and_lower(
    gutenberg_dir: Path,
    tmp_path: Path,
    redis_url: str,
    job_id: str,
    split_on: str,
    lower: bool,
) -> None:
    (tmp_path / "mixed.txt").write_bytes(
        "Tab\tSeparated  Words\u3000Ideographic\xa0NBSP\r\nCRLF cr\rONLY The THE the\n".encode()
        + INVALID_UTF8
    )
    book = sorted(gutenberg_dir.glob("*.txt"))[-1]
    paths = [tmp_path / "mixed.txt", book]
    tokenizer = Tokenizer(split_on, lower)  # type: ignore[arg-type]
    expected = _serial(paths, tokenizer)
    assert expected != _serial(paths, Tokenizer()), "the setting must change the counts"
    result = _run(paths, redis_url, job_id, workers=2, tokenizer=tokenizer)
    _assert_exact(result, expected, 2)


def test_invalid_utf8_is_stored_as_its_bytes(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, job_id: str
) -> None:
    path = tmp_path / "invalid.txt"
    path.write_bytes(INVALID_UTF8 * 3)
    expected = _serial([path], Tokenizer())
    result = _run([path], redis_url, job_id, workers=1)
    _assert_exact(result, expected, 1)
    counts = JobKeys(job_id).counts
    assert redis_client.zscore(counts, b"caf\xe9") == 6
    assert redis_client.zscore(counts, "caf\u00e9".encode()) == 3
    assert redis_client.zscore(counts, b"\xff\xfe\xfd") == 3
    assert redis_client.zscore(counts, b"truncated\xe2\x82") == 3


def test_empty_file(tmp_path: Path, redis_url: str, job_id: str) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b" \n\r\n\t ")
    (tmp_path / "one.txt").write_bytes(b"one")
    result = _run([tmp_path], redis_url, job_id, workers=2)
    _assert_exact(result, Counter({"one": 1}), 3)


def test_only_empty_files(tmp_path: Path, redis_url: str, job_id: str) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    result = _run([tmp_path], redis_url, job_id, workers=1)
    _assert_exact(result, Counter(), 1)
    assert result.top == []


def test_no_input_files(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, job_id: str
) -> None:
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = _run([empty], redis_url, job_id, workers=2)
    _assert_exact(result, Counter(), 0)
    assert result.info.bytes_total == 0
    assert redis_client.hget(JobKeys(job_id).job, "state") == b"done"


def test_cli_no_input_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = _cli(["run", str(tmp_path / "empty"), "--workers", "1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ": done, 0 of 0 tasks counted" in proc.stderr
    assert proc.stdout == ""


def test_resume_a_finished_job_counts_nothing_twice(
    gutenberg_dir: Path, gutenberg_serial: Counter[str], redis_url: str, job_id: str
) -> None:
    first = _run([gutenberg_dir], redis_url, job_id, workers=2)
    again = _run([gutenberg_dir], redis_url, job_id, workers=2)
    n_books = len(list(gutenberg_dir.glob("*.txt")))
    _assert_exact(first, gutenberg_serial, n_books)
    _assert_exact(again, gutenberg_serial, n_books)
