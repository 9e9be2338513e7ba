"""Which boundaries of the engine a scenario exercises: thresholds crossed, characters and
invalid bytes drawn, Redis snapshots and restarts by phase of the job.

A suite that reports "all green" has not said where it looked. Each scenario is mapped
here to a set of labels (``threshold:staging``, ``ws:U+3000``, ``bytes:overlong``,
``phase:snapshot@bootstrap``, ``claim:floor``); the ledger adds them up and the summary
names every label of :data:`ALL` that no scenario reached, as it does for crash points.

Thresholds are judged from the scenario alone (its tasks, their sizes and distinct words),
so they say what the data *forces*, not what one interleaving happened to do: see the
``crossed_when`` of each :class:`faults.thresholds.Threshold`. Phases are judged from the
faults that fired (:func:`fired_labels`), or, for a drawn scenario that has not run, from
its triggers (:func:`drawn_phases`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
from collections.abc import Iterable, Sequence

from engine import crashpoints as cp
from engine.count import count_block
from engine.tokenize import Tokenizer, decode, encode
from faults import kinds as k
from faults.alphabet import NOT_UTF8, WHITESPACE, char_label, invalid_classes, whitespace_in
from faults.files import all_files, task_ranges
from faults.nemesis import FiredFault
from faults.scenario import Dataset, Fault, Scenario, Settings
from faults.thresholds import CLAIM_TIMEOUT_FLOOR_MS, THRESHOLDS, by_name

PHASES = ("bootstrap", "bootstrap-end", "running", "finished")
"""Inside the bootstrap (some tasks added), just after its last batch, while workers run,
and after the job finished (before the driver reads the result)."""
REDIS_GROUPS = ("snapshot", "restart")

ALL: tuple[str, ...] = (
    *(f"threshold:{t.name}" for t in THRESHOLDS),
    "claim:floor",
    *(f"ws:{char_label(c)}" for c in WHITESPACE),
    *(f"bytes:{name}" for name in NOT_UTF8),
    *(f"phase:{g}@{p}" for g in REDIS_GROUPS for p in PHASES),
)
"""Every label, in the order the summary lists them."""


class Task:
    """One task of a scenario as the thresholds see it: its bytes, and its words."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data
        self.is_csv = name.lower().endswith(".csv")
        self._words: dict[Tokenizer, set[bytes]] = {}

    def rows(self) -> int:
        return len(_csv_texts(self.data)) if self.is_csv else 0

    def max_words(self) -> int:
        """An upper bound of the task's word count, cheap: a word and its separator take
        two bytes or more."""
        return (len(self.data) + 1) // 2

    def words(self, tokenizer: Tokenizer) -> set[bytes]:
        """Its distinct words, exactly as the engine counts them (computed once per
        tokenizer)."""
        if tokenizer not in self._words:
            if tokenizer.lower:
                self._words[tokenizer] = _lowered(self.words(Tokenizer(tokenizer.split_on)))
            else:
                text = b"\n".join(_csv_texts(self.data)) if self.is_csv else self.data
                self._words[tokenizer] = set(count_block(text, tokenizer))
        return self._words[tokenizer]

    def more_distinct_than(self, limit: int, tokenizer: Tokenizer) -> bool:
        """Whether the task has more than ``limit`` distinct words. Lower-casing only
        merges words, so the count without it (Arrow's, fast) decides a "no" first."""
        if self.max_words() <= limit:
            return False
        plain = Tokenizer(tokenizer.split_on)
        if len(self.words(plain)) <= limit:
            return False
        return len(self.words(tokenizer)) > limit


def _lowered(words: set[bytes]) -> set[bytes]:
    """The distinct words with lower-casing, from those without: lower-casing maps no
    character to a separator or back, so splitting the lower-cased text gives the
    lower-cased words (tests/test_coverage.py checks it on drawn text). Lower-casing a few
    thousand distinct words costs far less than splitting megabytes in Python, which is
    what the engine's reference does for non-ASCII text."""
    return {word.lower() if word.isascii() else encode(decode(word).lower()) for word in words}


def _csv_texts(data: bytes) -> list[bytes]:
    """The cells of the ``text`` column (or the last column), one per data row."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", "surrogateescape"), newline=""))
    header = next(reader, [])
    column = header.index("text") if "text" in header else len(header) - 1
    return [row[column].encode("utf-8", "surrogateescape") for row in reader if len(row) > column]


def tasks_of(scenario: Scenario) -> list[Task]:
    """The scenario's tasks, as the engine makes them (byte ranges included)."""
    files = {spec.name: spec.data for spec in all_files(scenario.dataset)}
    return [
        Task(name, files[name] if rng is None else files[name][rng[0] : rng[1]])
        for name, rng in task_ranges(scenario.dataset, scenario.settings.chunk_bytes)
    ]


def crossed(scenario: Scenario) -> set[str]:
    """The thresholds whose both sides the scenario's tasks lie on (names)."""
    s = scenario.settings
    out, total, smallest = _crossed(scenario.dataset, dataclasses.replace(
        s, claim_timeout_ms=1, max_attempts=1, persistence="none"))  # fmt: skip
    arrow = by_name("arrow-switch").value
    if total > scenario.workers * arrow and smallest < arrow:
        return {*out, "arrow-switch"}
    return set(out)


@functools.lru_cache(maxsize=16)
def _crossed(dataset: Dataset, settings: Settings) -> tuple[frozenset[str], int, int]:
    """All but the Arrow switch (which depends on the workers), with the total and the
    smallest task size; cached: Hypothesis draws one dataset with many fault lists."""
    tasks = tasks_of(Scenario("coverage", dataset, 1, settings))
    if not tasks:
        return frozenset(), 0, 0
    tokenizer = Tokenizer(settings.split_on, settings.lower)  # type: ignore[arg-type]
    sizes = [len(t.data) for t in tasks]
    out: set[str] = set()
    above = [t.more_distinct_than(by_name("staging").value, tokenizer) for t in tasks]
    if any(above) and not all(above):
        out.add("staging")
    if _both_sides(sizes, by_name("renewal-blocks").value):
        out.add("renewal-blocks")
    if _split_and_whole(dataset, settings.chunk_bytes):
        out.add("chunk-size")
    if len(tasks) > by_name("batch-tasks").value:
        out.add("batch-tasks")
    if sum(sizes) > by_name("batch-bytes").value:
        out.add("batch-bytes")
    if len(tasks) > settings.bootstrap_batch:
        out.add("bootstrap-batches")
    if _both_sides([t.rows() for t in tasks if t.is_csv], by_name("csv-rows").value):
        out.add("csv-rows")
    scan = by_name("result-scan").value
    if sum(t.max_words() for t in tasks) > scan and _result_distinct(dataset, tokenizer, scan):
        out.add("result-scan")
    return frozenset(out), sum(sizes), min(sizes)


def _both_sides(values: Sequence[int], threshold: int) -> bool:
    return bool(values) and max(values) > threshold >= min(values)


def _split_and_whole(dataset: Dataset, chunk: int) -> bool:
    if not chunk:
        return False
    ranges = task_ranges(dataset, chunk)
    text = {name for name, _ in ranges if not name.lower().endswith(".csv")}
    split = {name for name, rng in ranges if rng is not None}
    return bool(split) and bool(text - split)


def _result_distinct(dataset: Dataset, tokenizer: Tokenizer, limit: int) -> bool:
    """Whether the whole job has more than ``limit`` distinct words (those of its files:
    ranges never cut a word); without lower-casing first, as in
    :meth:`Task.more_distinct_than`."""
    files = [Task(spec.name, spec.data) for spec in all_files(dataset)]
    for tok in (Tokenizer(tokenizer.split_on), tokenizer):
        if len(set().union(*(task.words(tok) for task in files))) <= limit:
            return False
    return True


def characters(scenario: Scenario) -> set[str]:
    """``ws:`` and ``bytes:`` labels of what the scenario's files hold."""
    return set(_characters(scenario.dataset))


@functools.lru_cache(maxsize=16)
def _characters(dataset: Dataset) -> frozenset[str]:
    out: set[str] = set()
    for spec in all_files(dataset):
        out |= {f"ws:{char_label(c)}" for c in whitespace_in(spec.data)}
        out |= {f"bytes:{name}" for name in invalid_classes(spec.data)}
    return frozenset(out)


def _group(fault: Fault) -> str | None:
    spec = fault.action.spec
    if spec.target != k.REDIS:
        return None
    if spec.name == "redis-snapshot":
        return "snapshot"
    return "restart" if spec.loses_data else None


def bootstrap_calls(scenario: Scenario) -> int:
    """How many calls one bootstrap of the job makes (one even with no task)."""
    return max(1, math.ceil(scenario.n_tasks() / scenario.settings.bootstrap_batch))


def _phase(point: str, bootstrap_added: int | None, bootstrap_total: int | None) -> str | None:
    if point == cp.DRIVER_BEFORE_RESULT:
        return "finished"
    if point == cp.DRIVER_BOOTSTRAP:
        if bootstrap_added is None or bootstrap_total is None:
            return None
        return "bootstrap" if bootstrap_added < bootstrap_total else "bootstrap-end"
    return "running"


def drawn_phases(scenario: Scenario) -> set[str]:
    """``phase:`` labels of the scenario's Redis faults, by trigger (first bootstrap only)."""
    calls, batch, n_tasks = (
        bootstrap_calls(scenario),
        scenario.settings.bootstrap_batch,
        (scenario.n_tasks()),
    )
    out: set[str] = set()
    for fault in scenario.faults:
        group = _group(fault)
        nth = fault.trigger.nth
        added = min(nth * batch, n_tasks) if nth <= calls else None
        phase = _phase(fault.trigger.point, added, n_tasks)
        if group and phase:
            out.add(f"phase:{group}@{phase}")
    return out


def fired_labels(fired: Iterable[FiredFault]) -> set[str]:
    """``phase:`` labels of the Redis faults that really fired, from their context."""
    out: set[str] = set()
    for f in fired:
        group = _group(f.fault)
        added, total = f.context.get("added"), f.context.get("total")
        phase = _phase(f.point, added if isinstance(added, int) else None,
                       total if isinstance(total, int) else None)  # fmt: skip
        if group and phase:
            out.add(f"phase:{group}@{phase}")
    return out


def static_labels(scenario: Scenario) -> set[str]:
    """Every label the scenario earns before it runs: thresholds, characters, claim floor."""
    return set(_static_labels(scenario))


@functools.lru_cache(maxsize=16)
def _static_labels(scenario: Scenario) -> frozenset[str]:
    """Cached: Hypothesis draws one scenario several times, the ledger sees it again."""
    out = {f"threshold:{name}" for name in crossed(scenario)} | characters(scenario)
    if scenario.settings.claim_timeout_ms <= CLAIM_TIMEOUT_FLOOR_MS:
        out.add("claim:floor")
    return frozenset(out)


def drawn_labels(scenario: Scenario) -> set[str]:
    """What a drawn scenario would cover if every fault fired: for the strategies' tests."""
    return static_labels(scenario) | drawn_phases(scenario)


def loses_first_commit(scenario: Scenario) -> bool:
    """Whether a data-losing Redis fault is drawn at the first accepted commit (reached by
    every job with a task): Redis restarts without that commit while the worker that made
    it waits alive, the case a worker that trusts its memory of done tasks gets wrong."""
    return scenario.n_tasks() > 0 and any(
        f.action.spec.loses_data and f.trigger.point == k.COMMIT and f.trigger.nth == 1
        for f in scenario.faults
    )
