"""Hypothesis strategies for graded runs: small datasets and, per property, fault schedules.

Fault points are drawn from the points the fault-free baseline run reached (the commands
each kind of process actually sends), so a schedule fits the submission without knowing
its code. Schedules stay survivable by a correct submission: at most one worker in a run
is killed, always with another left; stalls are drawn on both sides of the claim timeout;
Redis restarts keep their data (append-only file, fsync always).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from faults.grade.schedule import Example, Fault
from faults.history import History

Points = dict[str, list[tuple[str, str, int]]]
"""'client' or 'worker' -> (phase, command, highest n seen)."""
WORDS = ["apple", "the", "a", "Straße", "naïve", "日本", "x", "ÉCOLE"]


def observed(history: History) -> Points:
    """The protocol points the baseline reached, per kind of process."""
    seen: dict[str, dict[tuple[str, str], int]] = {"client": {}, "worker": {}}
    for op in history.ops:
        kind = "worker" if op.process.startswith("worker#") else op.process
        if kind not in seen or op.f in ("exit", "fault"):
            continue
        phase = "before" if op.type == "invoke" else "after"
        key = (phase, op.f)
        seen[kind][key] = max(seen[kind].get(key, 0), int(op.value.get("n", 1)))
    return {k: [(p, c, n) for (p, c), n in sorted(v.items())] for k, v in seen.items()}


def file_texts() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    return st.one_of(
        st.just(""),
        st.builds(lambda w, n: " ".join([w] * n), word, st.integers(1, 30)),
        st.lists(word, min_size=1, max_size=40).map(" ".join),
        st.integers(1, 60).map(lambda n: "\n".join(f"w{i}" for i in range(n))),
    )


def datasets() -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(file_texts(), min_size=1, max_size=4).map(tuple)


READS = frozenset({"XREADGROUP", "XAUTOCLAIM", "XCLAIM"})
LOOKS = ("XINFO", "XPENDING", "XLEN", "XRANGE", "PING", "GET", "EXISTS", "ZSCORE")


def holding(points: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The points where a worker most likely holds a file: right after a read, and just
    before a command that writes (its commit, or part of it)."""
    return [
        (phase, command, n)
        for phase, command, n in points
        if (phase == "after" and command in READS)
        or (phase == "before" and command not in READS and not command.startswith(LOOKS))
    ]


def point(points: Points, kind: str, who: int | None) -> st.SearchStrategy[str]:
    """A point of that kind of process: half the time one where a worker holds a file."""
    label = "client" if who is None else f"worker#{who}"
    hot = holding(points[kind]) if kind == "worker" else []
    where = st.sampled_from(points[kind])
    if hot:
        where = st.one_of(st.sampled_from(hot), where)
    return where.flatmap(
        lambda pcn: st.integers(1, max(1, min(pcn[2], 3))).map(
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
    victim = st.integers(1, 2)
    if prop == "worker-crash":
        one = victim.flatmap(lambda who: point(points, "worker", who)).map(
            lambda at: Fault(at, "crash")
        )
        timed = st.builds(
            lambda child, ms: Fault(f"child#{child}@{ms}ms", "crash"),
            st.integers(1, 2),
            st.sampled_from([100, 300, 700, 1500]),
        )
        return _example(prop, workers, lambda w: st.tuples(st.one_of(one, timed)))
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
