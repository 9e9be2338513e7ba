"""The serial reference on inputs small enough to count by hand.

Every other test trusts this counter as its oracle, so here it is checked against answers
written out by a person, not against another program.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import InputError
from engine.inputs import expand_inputs, iter_texts
from engine.output import read_counts_file, write_counts
from engine.serial import count_task, count_tasks, ranked
from engine.tasks import Task
from engine.tokenize import Tokenizer

WHITESPACE = Tokenizer()


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _count(paths: list[str], tokenizer: Tokenizer = WHITESPACE, **kw: str) -> Counter[str]:
    return count_tasks(expand_inputs(paths, **kw), tokenizer)


def test_hand_counted_text(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", "the cat sat on the mat\nThe end\n")
    assert _count([str(tmp_path / "a.txt")]) == Counter(
        {"the": 2, "cat": 1, "sat": 1, "on": 1, "mat": 1, "The": 1, "end": 1}
    )


def test_counts_add_up_over_files(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", "x y\tz")
    _write(tmp_path / "b.txt", "x x\u3000y")
    _write(tmp_path / "c.txt", "")
    assert _count([str(tmp_path)]) == Counter({"x": 3, "y": 2, "z": 1})
    assert _count([str(tmp_path)], Tokenizer("space")) == Counter(
        {"x": 2, "y\tz": 1, "x\u3000y": 1}
    )


def test_lower_and_space(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", "Red red\tRED  rEd\r\nred")
    assert _count([str(tmp_path)], Tokenizer("space", lower=True)) == Counter(
        {"red": 3, "red\tred": 1}
    )
    assert _count([str(tmp_path)], Tokenizer(lower=True)) == Counter({"red": 5})


def test_invalid_utf8_kept_as_separate_words(tmp_path: Path) -> None:
    _write(tmp_path / "a.txt", b"caf\xe9 caf\xc3\xa9 caf\xe9\n\xff")
    counts = _count([str(tmp_path)])
    assert counts == Counter({"caf\udce9": 2, "caf\u00e9": 1, "\udcff": 1})


def test_hand_counted_csv(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "text": "hello world", "other": "not counted"},
        {"id": "2", "text": "hello, again\nover two lines", "other": "x"},
        {"id": "3", "text": "", "other": "empty cell"},
        {"id": "4", "text": 'quote " inside', "other": ""},
    ]
    path = tmp_path / "data.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "other"])
        writer.writeheader()
        writer.writerows(rows)
    expected = Counter(
        {"hello": 1, "world": 1, "hello,": 1, "again": 1, "over": 1, "two": 1, "lines": 1}
        | {"quote": 1, '"': 1, "inside": 1}
    )
    tasks = expand_inputs([str(path)], csv_column="text")
    assert count_tasks(tasks, WHITESPACE) == expected
    # The engine's reader (row by row, in chunks) sees the same words as the reference.
    assert WHITESPACE.count(iter_texts(tasks[0])) == expected
    assert count_tasks(expand_inputs([str(path)], csv_column="other"), WHITESPACE) == Counter(
        {"not": 1, "counted": 1, "x": 1, "empty": 1, "cell": 1}
    )


def test_csv_with_invalid_utf8_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", b'text,n\r\ncaf\xe9 ok,1\r\n"a\r\nb",2\r\n')
    task = expand_inputs([str(path)], csv_column="text")[0]
    expected = Counter({"caf\udce9": 1, "ok": 1, "a": 1, "b": 1})
    assert count_task(task, WHITESPACE) == expected
    assert WHITESPACE.count(iter_texts(task)) == expected


def test_csv_lacking_the_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "a,b\n1,2\n")
    task = Task(0, str(path), "csv", "text")
    with pytest.raises(InputError, match="no column 'text'"):
        count_task(task, WHITESPACE)


def test_empty_csv_and_header_only(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.csv", "")
    header = _write(tmp_path / "header.csv", "text\n")
    for path in (empty, header):
        task = Task(0, str(path), "csv", "text")
        assert count_task(task, WHITESPACE) == Counter()
        assert WHITESPACE.count(iter_texts(task)) == Counter()


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        count_task(Task(0, str(tmp_path / "gone.txt")), WHITESPACE)


def test_ranked_orders_by_count_then_bytes() -> None:
    counts = {"b": 2, "a": 2, "\u00e9": 2, "z": 5, "\udcff": 2, "A": 1}
    assert ranked(counts) == [
        ("z", 5),
        ("a", 2),
        ("b", 2),
        ("\u00e9", 2),  # b"\xc3\xa9" sorts before b"\xff"
        ("\udcff", 2),
        ("A", 1),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_output_files_round_trip_every_word(tmp_path: Path, suffix: str) -> None:
    counts = Counter(
        {"plain": 3, "with,comma": 1, 'quo"te': 2, "tab\there": 1, "caf\udce9": 4, "\u65e5": 1}
    )
    out = tmp_path / f"out{suffix}"
    write_counts(out, counts)
    assert read_counts_file(out) == dict(counts)
    if suffix == ".json":
        assert list(json.loads(out.read_text("ascii"))) == [w for w, _ in ranked(counts)]


def test_serial_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "in" / "a.txt", "b a b c b a\n")
    out = tmp_path / "counts.json"
    assert main(["serial", str(tmp_path / "in"), "--top", "2", "--output", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines] == [["3", "b"], ["2", "a"]]
    assert read_counts_file(out) == {"b": 3, "a": 2, "c": 1}


def test_serial_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serial", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
