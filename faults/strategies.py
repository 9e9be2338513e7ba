"""Hypothesis strategies for whole scenarios: datasets, workers, settings and faults.

Every choice is drawn so that shrinking heads somewhere a person can read: lists shrink
to fewer files, fewer words and fewer faults, integers to fewer workers and earlier
arrivals, and each ``sampled_from`` lists its simplest option first (a plain space, the
``crash`` action, no persistence). Small files are explicit bytes, so a shrunk failure
shows its words; large ones come from the seeded generator, so a scenario of a few MB
still saves as a few lines of JSON.

Drawn scenarios are valid against a correct engine by construction: at most
``workers - 1`` hung workers (someone must be left to steal), ``max_attempts`` above the
number of faults (no task may be dead-lettered), and durations of a few claim timeouts.
"""

from __future__ import annotations

import csv
import io

import hypothesis.strategies as st

from engine import crashpoints as cp
from engine.worker import MAX_PAIRS_PER_CALL
from faults import kinds as k
from faults.alphabet import NOT_UTF8, WHITESPACE
from faults.choices import (
    BOOTSTRAP_BATCHES,
    CHUNK_BYTES,
    CLAIM_TIMEOUTS_MS,
    CRITICAL_POINTS,
    DRIVER_POINTS,
    PERSISTENCE,
    REDIS_CRITICAL_POINTS,
    SHORT_CLAIMS_MS,
    SPLIT_ON,
    WORKER_POINTS,
    chunk_bytes_for,
    chunk_near,
    vocabulary_cap,
)
from faults.files import LARGE_VOCABULARY, Dataset, FileSpec, Generated, all_files
from faults.review_draws import Review, review
from faults.scenario import (
    ACTIONS,
    GROUP_ACTIONS,
    Action,
    Fault,
    Scenario,
    Settings,
    Trigger,
)

SEPARATORS = (b" ", b"\n", b"\r\n", b"  ",
              *(c.encode() for c in WHITESPACE if c not in " \n"))  # fmt: skip
"""Every character ``str.split()`` splits on (:data:`faults.alphabet.WHITESPACE`): ASCII
first, then the Unicode ones that only ``--split-on whitespace`` splits on."""
LETTERS = "abcdeABC" + "éßÄİǅ日本ß"
"""Plain letters first, then ones that lower() maps oddly or that need several bytes."""
INVALID = tuple(example for examples in NOT_UTF8.values() for example in examples)
"""Examples of every class of bytes that is not UTF-8 (:data:`faults.alphabet.NOT_UTF8`)."""
FILE_KINDS = ("words", "empty", "repeated", "csv")
CSV_COLUMN = "text"


def words() -> st.SearchStrategy[bytes]:
    """One word as bytes: mostly letters, sometimes with bytes that are not UTF-8."""
    text = st.text(alphabet=LETTERS, min_size=1, max_size=6).map(str.encode)
    broken = st.tuples(text, st.sampled_from(INVALID)).map(lambda pair: pair[0] + pair[1])
    return st.one_of(text, broken)


@st.composite
def text_file(draw: st.DrawFn, kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "repeated":
        return (draw(words()) + b" ") * draw(st.integers(1, 2000))
    pieces = draw(st.lists(st.tuples(words(), st.sampled_from(SEPARATORS)), max_size=60))
    return b"".join(word + sep for word, sep in pieces)


@st.composite
def csv_file(draw: st.DrawFn) -> bytes:
    """A CSV file with a ``text`` column of plain words (cells may hold several)."""
    plain = st.text(alphabet="abcXYZé", min_size=1, max_size=5)
    rows = draw(st.lists(st.lists(plain, min_size=0, max_size=4), max_size=20))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", CSV_COLUMN])
    writer.writerows([n, " ".join(cell)] for n, cell in enumerate(rows))
    return out.getvalue().encode()


@st.composite
def explicit_files(draw: st.DrawFn, max_files: int) -> tuple[FileSpec, ...]:
    """Up to ``max_files`` files; the number is drawn first, evenly, so that most scenarios
    have several tasks for faults to hit (a list strategy would mostly draw 0 or 1)."""
    n = draw(st.integers(0, max_files))
    kinds = [draw(st.sampled_from(FILE_KINDS)) for _ in range(n)]
    files = []
    for n, kind in enumerate(kinds):
        if kind == "csv":
            files.append(FileSpec(f"f{n:02d}.csv", draw(csv_file())))
        else:
            files.append(FileSpec(f"f{n:02d}.txt", draw(text_file(kind))))
    return tuple(files)


def generated(max_vocabulary: int | None = None) -> st.SearchStrategy[Generated | None]:
    """Mostly no generated files; else a few of bytes up to a few MB each; else hundreds of
    tiny files (more tasks than a batch holds); else, unless ``max_vocabulary`` is 0 (the
    ``ci`` profile's, :func:`faults.choices.vocabulary_cap`), large ones (past the Arrow
    switch, the 8 MB blocks, 50,000 CSV rows, and with ``max_vocabulary`` above 400,000
    past the staging threshold). See :mod:`faults.thresholds`."""
    cap = vocabulary_cap() if max_vocabulary is None else max_vocabulary
    seed, exotic = st.integers(0, 2**31 - 1), st.booleans()
    sizes = st.one_of(st.integers(1, 2_000), st.integers(2_000, 400_000))
    small = st.builds(Generated, seed=seed, files=st.integers(1, 4), words=sizes,
                      vocabulary=st.one_of(st.integers(1, 200), st.integers(200, 20_000)),
                      exotic=exotic)  # fmt: skip
    many = st.builds(Generated, seed=seed, files=st.integers(200, 320), words=st.integers(1, 30),
                     vocabulary=st.integers(1, 200), exotic=exotic)  # fmt: skip
    vocabulary = st.integers(LARGE_VOCABULARY + 1, max(LARGE_VOCABULARY + 1, min(cap, 100_000)))
    if cap > MAX_PAIRS_PER_CALL:  # half of the large ones then stage their commits
        vocabulary = st.one_of(vocabulary, st.integers(MAX_PAIRS_PER_CALL + 1, cap))
    large = st.builds(Generated, seed=seed, files=st.integers(1, 2),
                      words=st.one_of(st.integers(250_000, 700_000),
                                      st.integers(1_200_000, 1_500_000)),  # past 8 MB
                      vocabulary=vocabulary, exotic=exotic,
                      csv_files=st.integers(0, 1))  # fmt: skip
    big = large if cap else small  # the same number of tiers: ci draws align with dev's
    tiers: tuple[st.SearchStrategy[Generated | None], ...] = (
        st.none(), st.none(), st.none(), small, small, small, many, big, big)  # fmt: skip
    return st.integers(0, len(tiers) - 1).flatmap(lambda i: tiers[i])


@st.composite
def datasets(draw: st.DrawFn, max_files: int = 6, max_vocabulary: int | None = None) -> Dataset:
    """Zero or more explicit files of every kind, plus maybe seeded generated ones."""
    return Dataset(files=draw(explicit_files(max_files)),
                   generated=draw(generated(max_vocabulary)))  # fmt: skip


@st.composite
def fault_list(draw: st.DrawFn, workers: int, max_faults: int, actions: tuple[str, ...],
               claim_ms: int, tasks: int = 6, bootstrap_calls: int = 1,
               ) -> tuple[Fault, ...]:  # fmt: skip
    """Faults anywhere, but never more workers left holding a task than others to steal.

    Each fault first draws its domain (:data:`faults.kinds.DOMAINS`): a worker fault, a
    Redis fault, or a driver crash (mid-bootstrap, or before it reads the result); one flat
    choice over all kinds would make driver crashes rare enough for fifteen examples to
    miss them. A fault fires only if its trigger is reached, and most
    points are reached about once per task: ``nth`` is drawn up to the number of tasks
    (and at most 6); ``driver.bootstrap`` is reached once per bootstrap call, and its
    ``nth`` is the last call half of the time (just after the last batch), else any (inside
    the bootstrap). The number of faults is drawn evenly, like the files.
    """
    top = max(1, min(6, tasks))
    domains = _domains(actions)
    if not domains:
        return ()
    faults: list[Fault] = []
    holders = 0
    for _ in range(draw(st.integers(0, max_faults))):
        point, name = draw(domains[draw(st.integers(0, len(domains) - 1))])
        if k.KINDS[name].draw.holds_task:
            if holders >= workers - 1:
                name = "slow"  # someone must be left to steal the straggler's tasks
            holders += name != "slow"
        nth = _nth(draw, point, top, bootstrap_calls)
        length = draw(st.sampled_from((0, 1, 2)))
        faults.append(Fault(Trigger(point, nth), Action(name, _duration(name, length, claim_ms))))
    return tuple(faults)


def _nth(draw: st.DrawFn, point: str, top: int, bootstrap_calls: int) -> int:
    if point == cp.DRIVER_BEFORE_RESULT:
        return 1
    if point == k.COMMIT:  # half the time the first: a worker's batch holds several tasks,
        return draw(st.one_of(st.just(1), st.integers(1, top)))  # so later ones may not come
    if point == cp.DRIVER_BOOTSTRAP:
        calls = max(1, bootstrap_calls)
        return draw(st.one_of(st.just(calls), st.integers(1, calls)))
    return draw(st.integers(1, top))


_DOMAIN_POINTS = {
    k.WORKER_DOMAIN: (CRITICAL_POINTS, WORKER_POINTS),
    k.REDIS_DOMAIN: (REDIS_CRITICAL_POINTS, WORKER_POINTS + DRIVER_POINTS),
    k.DRIVER_DOMAIN: (DRIVER_POINTS, DRIVER_POINTS),
}
"""Per domain: the points drawn half of the time (where it hurts), and all of them."""


def _domains(actions: tuple[str, ...]) -> list[st.SearchStrategy[tuple[str, str]]]:
    """(point, kind) strategies for worker, Redis and driver faults among ``actions``;
    within a domain, a third of the draws are among the kinds that force recovery, a
    third among the others, a third among all."""
    domains = []
    for domain in k.DOMAINS:
        allowed = k.in_domain(domain, actions)
        if not allowed:
            continue
        critical, every = _DOMAIN_POINTS[domain]
        points = st.sampled_from(every) if critical == every else st.one_of(
            st.sampled_from(critical), st.sampled_from(every))  # fmt: skip
        if domain == k.REDIS_DOMAIN:  # a third of the time in the driver's phases
            points = st.one_of(points, st.sampled_from(DRIVER_POINTS))
        if domain == k.DRIVER_DOMAIN:
            domains.append(st.tuples(points, st.sampled_from(allowed)))
            continue
        forcing = [n for n in allowed if k.KINDS[n].draw.forcing] or list(allowed)
        names = st.one_of(st.sampled_from(forcing), st.sampled_from(allowed))
        gentle = [n for n in allowed if not k.KINDS[n].draw.forcing]
        if gentle:  # the others a third of the time: snapshots in every phase, hogs...
            names = st.one_of(names, st.sampled_from(gentle))
        domains.append(_with_loss_after_commit(st.tuples(points, names), domain, allowed))
    return domains


LOSS_AFTER_COMMIT_SHARE = 3
"""One Redis fault in this many is a data loss just after an accepted commit."""


def _with_loss_after_commit(
    drawn: st.SearchStrategy[tuple[str, str]], domain: str, allowed: tuple[str, ...]
) -> st.SearchStrategy[tuple[str, str]]:
    """Redis faults: one in :data:`LOSS_AFTER_COMMIT_SHARE` loses Redis' data at the
    ``commit`` point, while the worker that committed waits alive and its peers run. Drawn
    apart, kind and point met there about once in thirty faults (the kinds that lose data,
    among five, and a worker point after a commit, among the driver's phases), too rarely
    for a ``ci`` hunt to catch a worker that trusts its own memory of committed tasks
    (``faults.buggy.memory_progress``) every time. Other faults keep their draws."""
    losing = [n for n in allowed if k.KINDS[n].loses_data]
    if domain != k.REDIS_DOMAIN or not losing:
        return drawn
    loss = st.tuples(st.just(k.COMMIT), st.sampled_from(losing))
    share = st.integers(1, LOSS_AFTER_COMMIT_SHARE)
    return share.flatmap(lambda n: loss if n == LOSS_AFTER_COMMIT_SHARE else drawn)


GROUP_POINTS = (k.COMMIT, cp.WORKER_AFTER_COUNT, cp.DRIVER_BOOTSTRAP)
"""Where a replicated scenario's own group fault fires: points every job with a task
reaches at its first arrival (the bootstrap, even a job without any), so that the fault
fires in nearly every example: drawn among the others, a third of the faults were the
group's, and most of those waited at a point the small job never reached."""


@st.composite
def group_fault(draw: st.DrawFn, claim_ms: int, names: tuple[str, ...] = GROUP_ACTIONS) -> Fault:
    """One fault of a replicated group, at the first arrival at one of :data:`GROUP_POINTS`."""
    point = draw(st.sampled_from(GROUP_POINTS))
    name = draw(st.sampled_from(names))
    ms = _duration(name, draw(st.sampled_from((0, 1, 2))), claim_ms)
    return Fault(Trigger(point, 1), Action(name, ms))


@st.composite
def chunk_bytes(draw: st.DrawFn, dataset: Dataset) -> int:
    """A chunk size of :data:`CHUNK_BYTES`, or one a few bytes from a text file's size, so
    that files of about that size land on both sides of it; either way no file makes more
    than ``MAX_RANGES`` tasks."""
    files = all_files(dataset)
    largest = max((len(spec.data) for spec in files), default=0)
    text = sorted(len(s.data) for s in files if not s.name.endswith(".csv") and s.data)
    near_size: bool = draw(st.booleans())
    if text and near_size:
        near = chunk_near(draw(st.sampled_from(text)), draw(st.sampled_from((-1, 0, 1, -64))))
        return chunk_bytes_for(largest, near)
    return chunk_bytes_for(largest, draw(st.sampled_from(CHUNK_BYTES)))


def _duration(name: str, length: int, claim_ms: int) -> int:
    """0: short; 1: about a claim timeout; 2: several, so the task is surely stolen."""
    duration = k.KINDS[name].duration
    return 0 if duration is None else duration.drawn(claim_ms)[length]


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    max_workers: int = 6,
    max_faults: int = 3,
    max_files: int = 6,
    actions: tuple[str, ...] = ACTIONS,
    persistence: tuple[str, ...] = PERSISTENCE,
    liveness_s: float = 20.0,
    timeout_s: float = 90.0,
    max_vocabulary: int | None = None,
    replicas: int = 0,
    sync_choices: tuple[int, ...] = (0, 1),
) -> Scenario:
    """A whole scenario; the keyword arguments bound or narrow what is drawn (the review's
    regions, :mod:`faults.review_draws`, included). With ``replicas``, a replicated group
    with ``--sync-replicas`` drawn from ``sync_choices``, and none of the review's
    single-node regions."""
    dataset = draw(datasets(max_files, max_vocabulary))
    workers = draw(st.integers(1, max_workers))
    claim_ms = draw(st.sampled_from(CLAIM_TIMEOUTS_MS + SHORT_CLAIMS_MS))
    batch = draw(st.sampled_from(BOOTSTRAP_BATCHES))
    chunk = draw(chunk_bytes(dataset))
    found = draw(review(max_vocabulary)) if not replicas else Review()
    if found.dataset is not None and found.chunk_bytes is not None:
        dataset, chunk = found.dataset, found.chunk_bytes
    workers = max(workers, min(found.min_workers, max_workers))
    workers = min(found.workers, max_workers) if found.workers else workers
    n_tasks = len(dataset.task_names(chunk))
    calls = max(1, -(-n_tasks // batch))
    faults = draw(fault_list(workers, max_faults, actions, claim_ms, n_tasks, calls))
    faults = found.adjust(faults, actions, claim_ms)
    if replicas:  # what a replicated scenario is about, first (shrinking keeps it)
        own = tuple(name for name in GROUP_ACTIONS if name in actions)
        faults = (draw(group_fault(claim_ms, own)), *faults)
    has_csv = any(name.endswith(".csv") for name in dataset.names())
    settings = Settings(
        claim_timeout_ms=claim_ms,
        max_attempts=len(faults) + 5,
        persistence=draw(st.sampled_from(persistence)),
        split_on=draw(st.sampled_from(SPLIT_ON)),
        lower=draw(st.booleans()),
        csv_column=CSV_COLUMN if has_csv else None,
        bootstrap_batch=batch,
        chunk_bytes=chunk,
        embedded=found.embedded,
        busy_ms=found.busy_ms,
        replicas=replicas,
        sync_replicas=draw(st.sampled_from(sync_choices)) if replicas else 0,
    )
    return Scenario(name="drawn", description="drawn by faults.strategies.scenarios",
                    workers=workers, dataset=dataset, settings=settings, faults=faults,
                    timeout_s=timeout_s + 2 * _slack_s(dataset),
                    liveness_s=liveness_s + _slack_s(dataset))  # fmt: skip


WORDS_PER_SLACK_S = 50_000
"""Generated words per extra second of the liveness bound (and two of the timeout): a
million-word job on a loaded 2-core machine, respawned after a fault, takes well over the
20 s that suit small jobs, and judging it stalled by a fixed bound is a false alarm."""


def _slack_s(dataset: Dataset) -> float:
    made = dataset.generated
    return 0.0 if made is None else made.files * made.words / WORDS_PER_SLACK_S


def size(scenario: Scenario) -> dict[str, int]:
    """How big a scenario is, as people count it: files, words, workers, faults."""
    files = all_files(scenario.dataset)
    return {
        "files": len(files),
        "words": sum(len(spec.data.split()) for spec in files),
        "workers": scenario.workers,
        "faults": len(scenario.faults),
    }
