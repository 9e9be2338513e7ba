"""The tokenizer, the block reader and input expansion: everything between a path and words.

No Redis here: these are the pieces the workers and the serial reference share, so a bug
in them would make both wrong in the same way and no end-to-end comparison would see it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from engine.count import count_fast, count_python
from engine.errors import ConfigError, InputError
from engine.inputs import expand_inputs, iter_blocks, iter_texts
from engine.serial import count_task
from engine.tasks import Task
from engine.tokenize import SAFE_CUT_BYTES, Tokenizer, decode, encode

WHITESPACE = Tokenizer()
SPACE = Tokenizer("space")

# Every character str.split() treats as whitespace, ASCII and not.
UNICODE_SEPARATORS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


# --- the tokenizer ---------------------------------------------------------------------


@pytest.mark.parametrize("sep", list(UNICODE_SEPARATORS), ids=lambda c: f"U+{ord(c):04X}")
def test_whitespace_splits_on_every_unicode_whitespace(sep: str) -> None:
    assert list(WHITESPACE.words(f"alpha{sep}beta{sep}{sep}gamma{sep}")) == [
        "alpha",
        "beta",
        "gamma",
    ]


def test_whitespace_does_not_split_on_format_characters() -> None:
    # Zero-width space and BOM are not whitespace to Python: they stay inside words.
    assert list(WHITESPACE.words("a\u200bb \ufeffc")) == ["a\u200bb", "\ufeffc"]


def test_whitespace_leading_trailing_and_empty() -> None:
    assert list(WHITESPACE.words("")) == []
    assert list(WHITESPACE.words(" \t\r\n\u3000 ")) == []
    assert list(WHITESPACE.words("  one  ")) == ["one"]


def test_space_keeps_tabs_and_other_whitespace_inside_words() -> None:
    text = "a\tb  c\r\nd\u3000e\xa0f\x0bg\x0ch "
    assert list(SPACE.words(text)) == ["a\tb", "c", "d\u3000e\xa0f\x0bg\x0ch"]


def test_space_line_breaks_end_words_and_empty_strings_are_not_words() -> None:
    assert list(SPACE.words("one\ntwo\rthree\r\nfour")) == ["one", "two", "three", "four"]
    assert list(SPACE.words("   \n\r\n  ")) == []
    assert list(SPACE.words("a    b")) == ["a", "b"]


def test_lower() -> None:
    lower = Tokenizer(lower=True)
    assert WHITESPACE.count(["The the THE tHe"]) == Counter(
        {"The": 1, "the": 1, "THE": 1, "tHe": 1}
    )
    assert lower.count(["The the THE tHe"]) == Counter({"the": 4})
    assert lower.count(["ÄÖÜ äöü ΣΑΣ"]) == Counter({"äöü": 2, "σας": 1})
    assert Tokenizer("space", lower=True).count(["A\tB a\tb"]) == Counter({"a\tb": 2})


def test_nothing_else_is_normalised() -> None:
    # Punctuation stays, composed and decomposed forms stay distinct.
    counts = WHITESPACE.count(["word, word word. \u00e9 e\u0301"])
    assert counts == Counter({"word,": 1, "word": 1, "word.": 1, "\u00e9": 1, "e\u0301": 1})


def test_unknown_split_on_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="split-on"):
        Tokenizer("tab")  # type: ignore[arg-type]


def test_count_splits_each_text_on_its_own() -> None:
    assert WHITESPACE.count(["ab", "cd"]) == Counter({"ab": 1, "cd": 1})
    into: Counter[str] = Counter({"ab": 5})
    assert WHITESPACE.count(["ab"], into=into) is into
    assert into["ab"] == 6


INVALID = (
    b"caf\xe9 \xff\xfe abc\x80def \xe2\x80 x a\xe3\x80\x80b \xc3 \xed\xa0\x80 ok\xf4\x90\x80\x80"
)


@pytest.mark.parametrize("tokenizer", [WHITESPACE, SPACE], ids=["whitespace", "space"])
def test_invalid_utf8_bytes_stay_in_their_words_and_round_trip(tokenizer: Tokenizer) -> None:
    words = list(tokenizer.words(decode(INVALID)))
    raw = [encode(w) for w in words]
    assert b"caf\xe9" in raw
    assert b"\xff\xfe" in raw
    assert b"abc\x80def" in raw
    assert b"\xe2\x80" in raw  # a truncated sequence is kept, not dropped or merged
    assert b"\xc3" in raw
    assert b"\xed\xa0\x80" in raw  # an encoded surrogate is invalid UTF-8: kept as bytes
    assert b"ok\xf4\x90\x80\x80" in raw  # beyond U+10FFFF
    # Words are exactly the input's bytes between separators: nothing lost, nothing added.
    separators = b" \n\r" if tokenizer is SPACE else None
    if separators is None:
        expected = INVALID.replace(b"\xe3\x80\x80", b" ").split()
    else:
        expected = [w for w in INVALID.split(b" ") if w]
    assert raw == expected


def test_invalid_bytes_never_match_a_whitespace_rule() -> None:
    # Every single invalid byte, between letters, stays one word with them.
    for byte in range(0x80, 0x100):
        data = b"a" + bytes([byte]) + b"b"
        words = list(WHITESPACE.words(decode(data)))
        assert [encode(w) for w in words] == [data], hex(byte)


def test_decode_encode_round_trip_arbitrary_bytes() -> None:
    data = bytes(range(256)) * 3
    assert encode(decode(data)) == data


# --- the fast block counter agrees with the reference ---------------------------------

COUNTER_SAMPLES = [
    b"",
    b"plain ascii words, plain words\n",
    "tabs\tand\u3000ideographic\xa0spaces\u2028and NEL\x85 here".encode(),
    INVALID,
    b"MiXeD CaSe mixed case",
    "Ünïcödé ÜNÏCÖDÉ".encode(),
    b"\x1c\x1d\x1e\x1f separators \x0b\x0c",
    b"\xe2" + "\u3000".encode() + b"x",  # invalid lead byte right before a wide space
]


@pytest.mark.parametrize("sample", COUNTER_SAMPLES)
@pytest.mark.parametrize(
    "tokenizer",
    [WHITESPACE, SPACE, Tokenizer(lower=True), Tokenizer("space", lower=True)],
    ids=["whitespace", "space", "whitespace-lower", "space-lower"],
)
def test_fast_counter_equals_reference(sample: bytes, tokenizer: Tokenizer) -> None:
    expected = count_python(sample, tokenizer)
    assert count_fast(sample, tokenizer) == expected
    assert expected == {encode(w): n for w, n in tokenizer.count([decode(sample)]).items()}


# --- the block reader ------------------------------------------------------------------

BLOCK_SAMPLES = {
    "no-whitespace": b"x" * 1000,
    "one-word-then-space": b"y" * 300 + b" z",
    "multibyte": (
        "caf\u00e9 \u65e5\u672c\u8a9e\U0001d518\U0001d52b " * 40
        + "\u00fc" * 50
        + "\n"
        + "\u3000".join(["\u00e9t\u00e9"] * 30)
    ).encode(),
    "crlf": b"first line\r\nsecond  line\r\n\r\nthird\rfourth\n" * 20,
    "invalid-utf8": INVALID * 20,
    "unicode-spaces": ("a\u2003b\u3000c\xa0d\u2028e " * 30).encode(),
    "empty": b"",
    "only-separators": b" \n\r \r\n" * 10,
}
BLOCK_SIZES = [1, 2, 3, 5, 7, 64, 1 << 20]


def _text_task(path: Path, start: int = 0, end: int = -1) -> Task:
    return Task(0, str(path), "text", start=start, end=end, size=path.stat().st_size)


@pytest.mark.parametrize("name", sorted(BLOCK_SAMPLES))
def test_blocks_concatenate_to_the_file_and_end_at_word_boundaries(
    tmp_path: Path, name: str
) -> None:
    data = BLOCK_SAMPLES[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    for size in BLOCK_SIZES:
        blocks = list(iter_blocks(_text_task(path), block_bytes=size))
        assert b"".join(blocks) == data, size
        assert all(blocks), "no empty blocks"
        for block in blocks[:-1]:
            assert block[-1] in SAFE_CUT_BYTES, (size, block[-10:])


@pytest.mark.parametrize("name", sorted(BLOCK_SAMPLES))
@pytest.mark.parametrize(
    "tokenizer",
    [WHITESPACE, SPACE, Tokenizer(lower=True)],
    ids=["whitespace", "space", "lower"],
)
def test_tiny_blocks_count_like_the_whole_file(
    tmp_path: Path, name: str, tokenizer: Tokenizer
) -> None:
    data = BLOCK_SAMPLES[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    whole = tokenizer.count([decode(data)])
    assert count_task(_text_task(path), tokenizer) == whole
    for size in BLOCK_SIZES:
        assert tokenizer.count(iter_texts(_text_task(path), block_bytes=size)) == whole, size


def test_byte_range_task(tmp_path: Path) -> None:
    data = b"zero one two three four five"
    path = tmp_path / "range.txt"
    path.write_bytes(data)
    task = _text_task(path, start=5, end=13)  # "one two "
    for size in (1, 3, 100):
        assert b"".join(iter_blocks(task, block_bytes=size)) == data[5:13]
    assert count_task(task, WHITESPACE) == Counter({"one": 1, "two": 1})


def test_reading_a_vanished_file_is_an_input_error(tmp_path: Path) -> None:
    task = Task(0, str(tmp_path / "gone.txt"))
    with pytest.raises(InputError, match="cannot read"):
        list(iter_blocks(task))
    os.mkdir(tmp_path / "adir")
    with pytest.raises(InputError, match="cannot read"):
        list(iter_blocks(Task(0, str(tmp_path / "adir"))))


def test_csv_blocks_yield_the_column_only(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,hello world\n2,"quoted, with comma"\n3,caf\xe9\n')
    task = Task(0, str(path), "csv", "text")
    words = WHITESPACE.count(iter_texts(task))
    assert words == Counter(
        {"hello": 1, "world": 1, "quoted,": 1, "with": 1, "comma": 1, "caf\udce9": 1}
    )


# --- input expansion -------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.log").write_text("bb")
    (tmp_path / "sub" / "c.txt").write_text("ccc")
    (tmp_path / "sub" / "deeper" / "d.txt").write_text("dddd")
    (tmp_path / "sub" / ".e.txt").write_text("hidden file")
    (tmp_path / ".hidden" / "f.txt").write_text("hidden dir")
    return tmp_path


def _names(tasks: list[Task], root: Path) -> list[str]:
    return [os.path.relpath(t.path, root) for t in tasks]


def test_directory_is_expanded_recursively_without_hidden_files(tree: Path) -> None:
    tasks = expand_inputs([str(tree)])
    assert _names(tasks, tree) == ["a.txt", "b.log", "sub/c.txt", "sub/deeper/d.txt"]
    assert [t.index for t in tasks] == [0, 1, 2, 3]
    assert [t.size for t in tasks] == [1, 2, 3, 4]
    assert all(t.kind == "text" and os.path.isabs(t.path) for t in tasks)


def test_globs_and_duplicates(tree: Path) -> None:
    tasks = expand_inputs([str(tree / "**" / "*.txt"), str(tree / "a.txt"), str(tree / "sub")])
    assert _names(tasks, tree) == ["a.txt", "sub/c.txt", "sub/deeper/d.txt"]
    assert [t.index for t in tasks] == [0, 1, 2]
    assert _names(expand_inputs([str(tree / "*.log")]), tree) == ["b.log"]


def test_order_does_not_depend_on_argument_order(tree: Path) -> None:
    one = expand_inputs([str(tree / "sub"), str(tree / "a.txt")])
    two = expand_inputs([str(tree / "a.txt"), str(tree / "sub")])
    assert one == two


def test_missing_path_is_an_input_error(tree: Path) -> None:
    with pytest.raises(InputError, match="no such file or directory"):
        expand_inputs([str(tree / "a.txt"), str(tree / "nope.txt")])


def test_glob_matching_nothing_is_an_input_error(tree: Path) -> None:
    with pytest.raises(InputError, match="no files match"):
        expand_inputs([str(tree / "*.nothing")])


def test_empty_directory_gives_no_tasks(tmp_path: Path) -> None:
    assert expand_inputs([str(tmp_path)]) == []


@pytest.mark.parametrize("name", ["data.csv", "DATA.CSV"])
def test_csv_without_column_is_an_input_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("text\nhello\n")
    with pytest.raises(InputError, match="--csv-column"):
        expand_inputs([str(tmp_path)])
    tasks = expand_inputs([str(tmp_path)], csv_column="text")
    assert [(t.kind, t.column) for t in tasks] == [("csv", "text")]


def test_csv_column_does_not_apply_to_text_files(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("text\nx\n")
    (tmp_path / "b.txt").write_text("x")
    tasks = expand_inputs([str(tmp_path)], csv_column="text")
    assert [(t.kind, t.column) for t in tasks] == [("csv", "text"), ("text", "")]
