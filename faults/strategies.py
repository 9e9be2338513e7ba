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
from faults import kinds as k
from faults.choices import (
    BOOTSTRAP_BATCHES,
    CHUNK_BYTES,
    CLAIM_TIMEOUTS_MS,
    CRITICAL_POINTS,
    DRIVER_POINTS,
    PERSISTENCE,
    REDIS_CRITICAL_POINTS,
    SPLIT_ON,
    WORKER_POINTS,
    chunk_bytes_for,
)
from faults.files import Dataset, FileSpec, Generated, all_files
from faults.scenario import (
    ACTIONS,
    PROCESS_ACTIONS,
    REDIS_ACTIONS,
    Action,
    Fault,
    Scenario,
    Settings,
    Trigger,
)

SEPARATORS = (b" ", b"\n", b"\t", b"\r\n", b"  ", "\u3000".encode(), b"\x0b", b"\x1c",
              "\u0085".encode(), "\u00a0".encode())  # fmt: skip
"""ASCII and Unicode whitespace, and characters only one of the two tokenizer modes splits on."""
LETTERS = "abcdeABC" + "éßÄİǅ日本ß"
"""Plain letters first, then ones that lower() maps oddly or that need several bytes."""
NOT_UTF8 = (b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80")
"""A lone byte, a truncated sequence, a stray continuation byte, an encoded surrogate."""
FILE_KINDS = ("words", "empty", "repeated", "csv")
CSV_COLUMN = "text"


def words() -> st.SearchStrategy[bytes]:
    """One word as bytes: mostly letters, sometimes with bytes that are not UTF-8."""
    text = st.text(alphabet=LETTERS, min_size=1, max_size=6).map(str.encode)
    broken = st.tuples(text, st.sampled_from(NOT_UTF8)).map(lambda pair: pair[0] + pair[1])
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


def generated() -> st.SearchStrategy[Generated | None]:
    """Mostly no generated files; otherwise a few, from bytes up to a few MB each."""
    sizes = st.one_of(st.integers(1, 2_000), st.integers(2_000, 400_000))
    made = st.builds(
        Generated,
        seed=st.integers(0, 2**31 - 1),
        files=st.integers(1, 4),
        words=sizes,
        vocabulary=st.one_of(st.integers(1, 200), st.integers(200, 20_000)),
        exotic=st.booleans(),
    )
    return st.one_of(st.none(), made)


@st.composite
def datasets(draw: st.DrawFn, max_files: int = 6) -> Dataset:
    """Zero or more explicit files of every kind, plus maybe seeded generated ones."""
    return Dataset(files=draw(explicit_files(max_files)), generated=draw(generated()))


@st.composite
def fault_list(draw: st.DrawFn, workers: int, max_faults: int, actions: tuple[str, ...],
               claim_ms: int, tasks: int = 6) -> tuple[Fault, ...]:  # fmt: skip
    """Faults anywhere, but never more workers left holding a task than others to steal.

    Each fault first draws its domain (:data:`faults.kinds.DOMAINS`): a worker fault, a
    Redis fault, or a driver crash (mid-bootstrap, or before it reads the result); one flat
    choice over all kinds would make driver crashes rare enough for fifteen examples to
    miss them. A fault fires only if its trigger is reached, and most
    points are reached about once per task: ``nth`` is drawn up to the number of tasks
    (and at most 6). The number of faults is drawn evenly, like the files.
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
        nth = 1 if point == cp.DRIVER_BEFORE_RESULT else draw(st.integers(1, top))
        length = draw(st.sampled_from((0, 1, 2)))
        faults.append(Fault(Trigger(point, nth), Action(name, _duration(name, length, claim_ms))))
    return tuple(faults)


_DOMAIN_POINTS = {
    k.WORKER_DOMAIN: (CRITICAL_POINTS, WORKER_POINTS),
    k.REDIS_DOMAIN: (REDIS_CRITICAL_POINTS, WORKER_POINTS + DRIVER_POINTS),
    k.DRIVER_DOMAIN: (DRIVER_POINTS, DRIVER_POINTS),
}
"""Per domain: the points drawn half of the time (where it hurts), and all of them."""


def _domains(actions: tuple[str, ...]) -> list[st.SearchStrategy[tuple[str, str]]]:
    """(point, kind) strategies for worker, Redis and driver faults among ``actions``;
    within a domain, the kinds that force recovery are drawn half of the time."""
    domains = []
    for domain in k.DOMAINS:
        allowed = k.in_domain(domain, actions)
        if not allowed:
            continue
        critical, every = _DOMAIN_POINTS[domain]
        points = st.sampled_from(every) if critical == every else st.one_of(
            st.sampled_from(critical), st.sampled_from(every))  # fmt: skip
        if domain == k.DRIVER_DOMAIN:
            domains.append(st.tuples(points, st.sampled_from(allowed)))
            continue
        forcing = [n for n in allowed if k.KINDS[n].draw.forcing] or list(allowed)
        names = st.one_of(st.sampled_from(forcing), st.sampled_from(allowed))
        domains.append(st.tuples(points, names))
    return domains


def _chunk_bytes(dataset: Dataset, drawn: int) -> int:
    largest = max((len(spec.data) for spec in all_files(dataset)), default=0)
    return chunk_bytes_for(largest, drawn)


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
) -> Scenario:
    """A whole scenario; the keyword arguments bound or narrow what is drawn."""
    dataset = draw(datasets(max_files))
    workers = draw(st.integers(1, max_workers))
    claim_ms = draw(st.sampled_from(CLAIM_TIMEOUTS_MS))
    faults = draw(fault_list(workers, max_faults, actions, claim_ms, len(dataset.names())))
    has_csv = any(name.endswith(".csv") for name in dataset.names())
    settings = Settings(
        claim_timeout_ms=claim_ms,
        max_attempts=len(faults) + 5,
        persistence=draw(st.sampled_from(persistence)),
        split_on=draw(st.sampled_from(SPLIT_ON)),
        lower=draw(st.booleans()),
        csv_column=CSV_COLUMN if has_csv else None,
        bootstrap_batch=draw(st.sampled_from(BOOTSTRAP_BATCHES)),
        chunk_bytes=_chunk_bytes(dataset, draw(st.sampled_from(CHUNK_BYTES))),
    )
    return Scenario(
        name="drawn",
        description="drawn by faults.strategies.scenarios",
        workers=workers,
        dataset=dataset,
        settings=settings,
        faults=faults,
        timeout_s=timeout_s,
        liveness_s=liveness_s,
    )


def size(scenario: Scenario) -> dict[str, int]:
    """How big a scenario is, as people count it: files, words, workers, faults."""
    files = all_files(scenario.dataset)
    return {
        "files": len(files),
        "words": sum(len(spec.data.split()) for spec in files),
        "workers": scenario.workers,
        "faults": len(scenario.faults),
    }


def families() -> dict[str, st.SearchStrategy[Scenario]]:
    """The main property's draws, split so that ``pytest -n`` spreads them: process faults
    only, Redis faults only, and anything (the whole space). ``faults.teeth`` hunts the
    buggy engines with all three, as the suite would."""
    return {
        "worker-faults": scenarios(actions=PROCESS_ACTIONS),
        "redis-faults": scenarios(actions=REDIS_ACTIONS, max_workers=4),
        "any-faults": scenarios(max_faults=4),
    }
