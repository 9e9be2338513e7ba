"""Hypothesis strategies for graded runs: small datasets and, per property, fault schedules.

Fault points are drawn from the points the fault-free baseline run reached (the commands
each kind of process actually sends), so a schedule fits the submission without knowing
its code. Schedules stay survivable by a correct submission: at most one worker in a run
is killed, always with another left; stalls are drawn on both sides of the claim timeout;
Redis restarts keep their data (append-only file, fsync always).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st

from faults.grade.schedule import Example, Fault
from faults.history import History

Points = dict[str, list[tuple[str, str, int]]]
"""'client' or 'worker' -> (phase, command, highest n seen)."""
READS = frozenset({"XREADGROUP", "XAUTOCLAIM", "XCLAIM"})
WORDS = ["apple", "the", "a", "Straße", "naïve", "日本", "x", "ÉCOLE"]


def observed(history: History, files: list[Path]) -> Points:
    """The protocol points the baseline reached, per kind of process, and under
    ``holding`` the worker points reached while a worker held a file: from a read whose
    reply named an input file up to its next read, less the last reply of that stretch
    (by then the file is committed). In the order first reached, so that shrinking heads
    for the earliest: right after the read."""
    seen: dict[str, dict[tuple[str, str], int]] = {"client": {}, "worker": {}, "holding": {}}
    windows: dict[str, list[tuple[str, str, int]]] = {}
    paths = [str(path) for path in files]
    for op in history.ops:
        kind = "worker" if op.process.startswith("worker#") else op.process
        if kind not in ("client", "worker") or op.f in ("exit", "fault"):
            continue
        phase = "before" if op.type == "invoke" else "after"
        n = int(op.value.get("n", 1))
        seen[kind][(phase, op.f)] = max(seen[kind].get((phase, op.f), 0), n)
        if kind == "worker" and op.f in READS:
            _close(windows.pop(op.process, None), seen["holding"])
            if phase == "after" and any(p in json.dumps(op.value.get("result")) for p in paths):
                windows[op.process] = []
        if op.process in windows:
            windows[op.process].append((phase, op.f, n))
    for window in windows.values():
        _close(window, seen["holding"])
    return {k: [(p, c, n) for (p, c), n in v.items()] for k, v in seen.items()}


def _close(window: list[tuple[str, str, int]] | None, into: dict[tuple[str, str], int]) -> None:
    if window and window[-1][0] == "after" and len(window) > 1:
        window = window[:-1]
    for phase, command, n in window or []:
        into[(phase, command)] = max(into.get((phase, command), 0), n)


def file_texts() -> st.SearchStrategy[str]:
    """One word repeated, Unicode words, many distinct words, or (one time in seven, as
    an empty file is harmless to lose) nothing. Shrinks toward one word repeated."""
    word = st.sampled_from(WORDS)
    kinds = [
        st.builds(lambda w, n: " ".join([w] * n), word, st.integers(1, 30)),
        st.lists(word, min_size=1, max_size=40).map(" ".join),
        st.integers(1, 60).map(lambda n: "\n".join(f"w{i}" for i in range(n))),
    ]
    return st.one_of(*kinds, *kinds, st.just(""))


def datasets() -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(file_texts(), min_size=1, max_size=4).map(tuple)


def point(points: Points, kind: str, who: int | None) -> st.SearchStrategy[str]:
    """A point of that kind of process; for a worker, three times in four one where it
    holds a file."""
    label = "client" if who is None else f"worker#{who}"
    hot = points["holding"] if kind == "worker" else []
    where = st.sampled_from(points[kind])
    if hot:
        where = st.one_of(*[st.sampled_from(hot)] * 3, where)
    return where.flatmap(
        lambda pcn: st.one_of(st.just(1), st.integers(1, max(1, min(pcn[2], 3)))).map(
            lambda n: f"{label}.{pcn[0]}:{pcn[1]}#{n}"
        )
    )


def _example(
    prop: str,
    workers: st.SearchStrategy[int],
    faults: Callable[[int], st.SearchStrategy[tuple[Fault, ...]]],
) -> st.SearchStrategy[Example]:
    return st.tuples(datasets(), workers).flatmap(
        lambda dw: faults(dw[1]).map(lambda fs: Example(prop, dw[0], dw[1], fs))
    )


def strategy(prop: str, points: Points, claim_ms: int) -> st.SearchStrategy[Example]:
    """Runs for one property (see :data:`faults.grade.search.PROPERTIES`)."""
    workers = st.integers(2, 3)
    if prop == "termination":
        return _example(prop, st.integers(1, 4), lambda w: st.just(()))
    if prop == "bootstrap" and points["client"]:
        return _example(
            prop,
            workers,
            lambda w: point(points, "client", None).map(lambda at: (Fault(at, "crash"),)),
        )
    if not points["worker"]:
        return _example(prop, workers, lambda w: st.just(()))
    victim = st.one_of(st.just(1), st.integers(1, 2))  # worker#1 most often gets a file
    if prop == "worker-crash":
        one = victim.flatmap(lambda who: point(points, "worker", who)).map(
            lambda at: Fault(at, "crash")
        )
        timed = st.builds(
            lambda child, ms: Fault(f"child#{child}@{ms}ms", "crash"),
            st.integers(1, 2),
            st.sampled_from([100, 300, 700, 1500]),
        )
        return _example(prop, workers, lambda w: st.tuples(st.one_of(one, one, one, timed)))
    if prop == "straggler":
        ms = st.sampled_from([claim_ms * 2 + 500, max(50, claim_ms // 2), claim_ms * 3 + 500])
        one = st.builds(
            lambda at, m: Fault(at, "stall", m),
            victim.flatmap(lambda who: point(points, "worker", who)),
            ms,
        )
        return _example(prop, workers, lambda w: st.lists(one, min_size=1, max_size=2).map(tuple))
    kinds = st.sampled_from([("redis-restart", 0), ("redis-restart", 300), ("redis-pause", 500)])
    where = st.one_of(
        victim.flatmap(lambda who: point(points, "worker", who)),
        *([point(points, "client", None)] if points["client"] else []),
    )
    one = st.builds(lambda at, k: Fault(at, k[0], k[1]), where, kinds)
    return _example(prop, workers, lambda w: st.lists(one, min_size=1, max_size=2).map(tuple))
