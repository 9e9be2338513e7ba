"""The coverage computation on hand-made scenarios: each threshold is crossed exactly when
tasks lie on both sides of it, characters and byte classes are found, Redis faults are
put in the right phase, and the ledger reports what was never reached. No Redis."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import crashpoints as cp
from engine.count import count_block
from engine.tokenize import Tokenizer
from faults import coverage
from faults.history import History
from faults.ledger import Ledger
from faults.nemesis import FiredFault
from faults.outcome import Outcome
from faults.scenario import Action, Dataset, Fault, FileSpec, Scenario, Settings, Trigger
from faults.thresholds import by_name


def scenario(*files: tuple[str, bytes], workers: int = 1, **settings: object) -> Scenario:
    specs = tuple(FileSpec(name, data) for name, data in files)
    has_csv = any(name.endswith(".csv") for name, _ in files)
    options = {"csv_column": "text" if has_csv else None, **settings}
    return Scenario("hand", Dataset(files=specs), workers, Settings(**options))  # type: ignore[arg-type]


def words(n: int, prefix: bytes = b"w") -> bytes:
    return b" ".join(prefix + str(i).encode() for i in range(n)) + b"\n"


def sized(n: int) -> bytes:
    """``n`` bytes of two-letter words."""
    return (b"ab " * (n // 3 + 1))[:n]


SMALL = ("s.txt", b"a b c\n")


def test_small_scenario_crosses_nothing() -> None:
    assert coverage.crossed(scenario(SMALL, ("t.txt", b"x y\n"))) == set()
    assert coverage.crossed(scenario()) == set()


def test_chunk_size_needs_a_split_file_and_a_whole_one() -> None:
    files = (("big.txt", sized(300)), ("small.txt", sized(30)))
    assert "chunk-size" in coverage.crossed(scenario(*files, chunk_bytes=100))
    assert "chunk-size" not in coverage.crossed(scenario(*files, chunk_bytes=0))
    assert "chunk-size" not in coverage.crossed(scenario(*files, chunk_bytes=10))  # both split


def test_bootstrap_batches_and_batch_tasks() -> None:
    three = [(f"f{i}.txt", b"a\n") for i in range(3)]
    assert "bootstrap-batches" in coverage.crossed(scenario(*three, bootstrap_batch=2))
    assert "bootstrap-batches" not in coverage.crossed(scenario(*three, bootstrap_batch=3))
    limit = by_name("batch-tasks").value
    many = [(f"f{i:03d}.txt", b"a\n") for i in range(limit + 1)]
    assert "batch-tasks" in coverage.crossed(scenario(*many))
    assert "batch-tasks" not in coverage.crossed(scenario(*many[:limit]))


def test_renewal_blocks_need_a_task_on_each_side() -> None:
    block = by_name("renewal-blocks").value
    big = ("big.txt", sized(block + 1))
    assert "renewal-blocks" in coverage.crossed(scenario(big, SMALL))
    assert "renewal-blocks" not in coverage.crossed(scenario(big))
    assert "renewal-blocks" not in coverage.crossed(scenario(("b.txt", sized(block)), SMALL))


def test_arrow_switch_needs_more_than_4mb_per_worker() -> None:
    arrow = by_name("arrow-switch").value
    files = (("big.txt", sized(arrow + 10)), SMALL)
    assert "arrow-switch" in coverage.crossed(scenario(*files, workers=1))
    assert "arrow-switch" not in coverage.crossed(scenario(*files, workers=2))
    assert "arrow-switch" not in coverage.crossed(scenario(("b.txt", sized(arrow)), workers=1))


def test_staging_counts_distinct_words_as_the_engine_does() -> None:
    limit = by_name("staging").value
    over = ("many.txt", words(limit + 1))
    assert "staging" in coverage.crossed(scenario(over, SMALL))
    assert "staging" not in coverage.crossed(scenario(("few.txt", words(limit)), SMALL))
    assert "staging" not in coverage.crossed(scenario(over))  # no task below it
    # Lower-casing merges W1 and w1: the same bytes are below the threshold then.
    mixed = ("mixed.txt", words(limit // 2 + 1) + words(limit // 2 + 1, b"W"))
    assert "staging" in coverage.crossed(scenario(mixed, SMALL))
    assert "staging" not in coverage.crossed(scenario(mixed, SMALL, lower=True))


def test_result_scan_and_csv_rows() -> None:
    scan = by_name("result-scan").value
    assert "result-scan" in coverage.crossed(scenario(("a.txt", words(scan + 1))))
    assert "result-scan" not in coverage.crossed(scenario(("a.txt", words(scan) + words(scan))))
    rows = by_name("csv-rows").value
    big = ("big.csv", b"id,text\n" + b"".join(b"%d,w%d\n" % (i, i % 7) for i in range(rows + 1)))
    one = ("one.csv", b"id,text\n0,a b\n")
    assert "csv-rows" in coverage.crossed(scenario(big, one))
    assert "csv-rows" not in coverage.crossed(scenario(big))


def test_characters_and_claim_floor() -> None:
    data = "a\u3000b\x85c ".encode() + b"d\xff e\xed\xa0\x80"
    s = scenario(("a.txt", data), claim_timeout_ms=100)
    labels = coverage.static_labels(s)
    assert {"ws:U+3000", "ws:U+0085", "ws:U+0020", "bytes:fe-ff", "bytes:surrogate"} <= labels
    assert "claim:floor" in labels
    only_ff = coverage.static_labels(scenario(("b.txt", b"d\xff e\n")))
    assert {label for label in only_ff if label.startswith("bytes:")} == {"bytes:fe-ff"}
    assert "claim:floor" not in coverage.static_labels(scenario(SMALL, claim_timeout_ms=150))


def fault(point: str, nth: int, kind: str, ms: int = 0) -> Fault:
    return Fault(Trigger(point, nth), Action(kind, ms))


@pytest.mark.parametrize(
    ("f", "label"),
    [
        (fault(cp.DRIVER_BOOTSTRAP, 2, "redis-snapshot"), "phase:snapshot@bootstrap"),
        (fault(cp.DRIVER_BOOTSTRAP, 4, "redis-snapshot"), "phase:snapshot@bootstrap-end"),
        (fault("commit", 1, "redis-kill"), "phase:restart@running"),
        (fault(cp.WORKER_AFTER_READ, 1, "redis-restart-empty"), "phase:restart@running"),
        (fault(cp.DRIVER_BEFORE_RESULT, 1, "redis-wipe"), "phase:restart@finished"),
        (fault(cp.DRIVER_BOOTSTRAP, 1, "redis-pause", 100), None),
        (fault(cp.DRIVER_BOOTSTRAP, 1, "crash"), None),
        (fault(cp.DRIVER_BOOTSTRAP, 5, "redis-kill"), None),  # only a second bootstrap
    ],
)
def test_phases_of_drawn_faults(f: Fault, label: str | None) -> None:
    files = [(f"f{i}.txt", b"a\n") for i in range(4)]
    s = Scenario("p", Dataset(tuple(FileSpec(n, d) for n, d in files)), 2,
                 Settings(bootstrap_batch=1), faults=(f,))  # fmt: skip
    assert coverage.drawn_phases(s) == ({label} if label else set())


def fired(f: Fault, **context: object) -> FiredFault:
    return FiredFault(0, f, "driver-1", f.trigger.point, dict(context), 1.0, 1.0)


def test_phases_of_fired_faults_come_from_their_context() -> None:
    snap = fault(cp.DRIVER_BOOTSTRAP, 1, "redis-snapshot")
    assert coverage.fired_labels([fired(snap, added=1, total=3)]) == {"phase:snapshot@bootstrap"}
    assert coverage.fired_labels([fired(snap, added=3, total=3)]) == {
        "phase:snapshot@bootstrap-end"
    }
    kill = fault(cp.DRIVER_BEFORE_RESULT, 1, "redis-kill")
    assert coverage.fired_labels([fired(kill, job="j")]) == {"phase:restart@finished"}


def test_ledger_reports_covered_and_never_reached() -> None:
    s = scenario(("a.txt", "x\u3000y".encode() + b"\xff "), claim_timeout_ms=100)
    ledger = Ledger()
    outcome = Outcome(s, "process", "job", History())
    outcome.fired = [fired(fault(cp.DRIVER_BEFORE_RESULT, 1, "redis-kill"), job="j")]
    outcome.reached = Counter({cp.WORKER_AFTER_READ: 1})
    ledger.add(outcome)
    assert ledger.covered["ws:U+3000"] == 1 and ledger.covered["phase:restart@finished"] == 1
    again = Ledger.from_json(ledger.to_json())
    again.merge(ledger)
    assert again.covered["claim:floor"] == 2
    assert "ws:U+1680" in again.uncovered() and "ws:U+3000" not in again.uncovered()
    text = "\n".join(again.render(10.0))
    assert "whitespace characters drawn: 2 of 29 (U+0020 2, U+3000 2)" in text
    assert "NEVER reached: " in text and "U+1680" in text
    assert "batch-bytes (not drawn:" in text
    assert "non-UTF-8 byte classes drawn: 1 of 8 (fe-ff 2)" in text


_PIECES = st.sampled_from(["a", "B", "é", "ß", "Ä", "İ", "ǅ", "Σ", "日本", " ", "\t", "\n", "\r",
                           "\u3000", "\u0085", "\x1c", "\u2028", "\xa0"])  # fmt: skip


@given(
    text=st.lists(_PIECES | st.text(max_size=3), max_size=40).map("".join),
    junk=st.binary(max_size=4),
    split_on=st.sampled_from(["whitespace", "space"]),
)
def test_lowered_distinct_words_are_those_of_the_lowered_text(
    text: str, junk: bytes, split_on: str
) -> None:
    """coverage derives the distinct words with lower-casing from those without; that
    equals splitting the lower-cased text, as the engine's reference does."""
    data = text.encode("utf-8", "surrogatepass") + junk
    tokenizer = Tokenizer(split_on, lower=True)  # type: ignore[arg-type]
    task = coverage.Task("t.txt", data)
    assert task.words(tokenizer) == set(count_block(data, tokenizer))
