"""The checker: judges an :class:`~faults.outcome.Outcome` against the serial count.

Properties checked, each reported with the words or tasks at fault:

- **counts**: the final counts equal, word for word, the serial count (:mod:`engine.serial`)
  of every task that was not dead-lettered; no word appears that is in no input;
- **exactly once**: every task is acknowledged (in the done set) or dead-lettered as the
  scenario expects, never both; no task's commit was accepted twice unless Redis lost the
  first one in between (the nemesis records what Redis came back with after each restart);
  the job hash's counters agree with the done set and the dead-letter stream;
- **atomic commits**: at every sample taken while the job ran, the counts equal the sum
  of the serial counts of the tasks acknowledged in that same sample;
- **liveness**: the job finished within ``liveness_s`` of the end of the last fault, and
  the driver did not give up (a job the runner stopped because it stalled past that bound
  is invalid, not unknown), and no worker quit on its own before the job finished.

- **replication** (a replicated group): with ``--sync-replicas``, under the group's
  faults (but a freeze, reported only), no acknowledged commit is lost and recomputed
  (:mod:`faults.replication_check`).

The verdict is ``valid``, ``invalid`` or ``unknown`` (the run could not be judged: it
timed out, Redis could not be restarted, or Redis lost the job after it finished). The
checker never raises: a bug in it is an ``unknown`` that says so.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from engine.job import FINISHED_STATES
from faults import history as h
from faults import replication_check as replication
from faults.dataset import reference as reference_counts
from faults.db import NEMESIS, FinalState
from faults.history import Op
from faults.loadgauge import scaled
from faults.outcome import Outcome

Status = Literal["valid", "invalid", "unknown"]
MAX_LISTED = 20
QUIT_SLACK_S = 1.0


@dataclasses.dataclass(frozen=True)
class WordDiff:
    word: str
    expected: int
    actual: int


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The judgement, with everything that differs (empty when valid)."""

    status: Status
    problems: tuple[str, ...] = ()
    words: tuple[WordDiff, ...] = ()
    foreign_words: tuple[str, ...] = ()
    missing_tasks: tuple[int, ...] = ()
    doubled_tasks: tuple[int, ...] = ()
    bad_samples: int = 0

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    @property
    def exit_code(self) -> int:
        return {"valid": 0, "invalid": 1, "unknown": 2}[self.status]


def check(outcome: Outcome, reference: list[Counter[str]] | None = None) -> Verdict:
    """Judge ``outcome``; ``reference`` (per-task serial counts) is computed if not given."""
    try:
        if outcome.error:
            return Verdict("unknown", (outcome.error,))
        final = outcome.final
        if final is None and _embedded_gave_up(outcome):
            return Verdict("invalid", _embedded_gave_up(outcome))
        if final is None:
            return Verdict("unknown", ("the final state of the job could not be read",))
        gone = final.job is None or _rolled_back_after_result(outcome, final)
        lost = gone and outcome.driver_failure is None
        if lost and (outcome.delivered is None or not _ended_cleanly(outcome)):
            return Verdict("unknown", ("Redis has no trace of the job at the end: its data "
                                       "was lost after the job finished",))  # fmt: skip
        if reference is None:
            reference = reference_counts(outcome.scenario.dataset, outcome.scenario.settings)
        if lost or replication.rolled_back(outcome):  # the user's counts are what is left
            return _with_replication_rule(outcome, _judge_delivered(outcome, reference))
        return _Judge(outcome, final, reference).verdict()
    except Exception as exc:  # the checker's own bug must not pass for the engine's
        return Verdict("unknown", (f"the checker failed: {type(exc).__name__}: {exc}",))


class _Judge:
    def __init__(self, outcome: Outcome, final: FinalState, reference: list[Counter[str]]):
        self.outcome = outcome
        self.final = final
        self.reference = reference
        self.problems: list[str] = []
        self.entries = _entry_indexes(outcome, final)
        self._strays: set[str] = set()

    def verdict(self) -> Verdict:
        missing = self._tasks()
        words, foreign = self._counts()
        doubled = self._exactly_once()
        bad_samples = self._samples()
        self._liveness()
        self._quitters()
        self.problems += replication.problems(self.outcome)
        status: Status = "invalid" if self.problems else "valid"
        return Verdict(
            status, tuple(self.problems), tuple(words), tuple(foreign),
            tuple(missing), tuple(doubled), bad_samples,
        )  # fmt: skip

    def index(self, entry: str) -> int | None:
        """The task of a stream entry, or ``None`` (and a problem, once) if the entry
        names no task of this job: an entry in no record, or a task index outside the
        job's tasks (a stream entry without an index reads as -1). Either is the engine's
        doing, and must be judged, not raised: ``reference[i]`` once raised IndexError."""
        index = self.entries.get(entry)
        if index is not None and 0 <= index < len(self.reference):
            return index
        if entry not in self._strays:
            self._strays.add(entry)
            what = "is in no task's record" if index is None else f"names task {index}"
            self.problems.append(
                f"entry {entry} was acknowledged but {what}: the job has tasks "
                f"0..{len(self.reference) - 1}"
            )
        return None

    def indexes(self, entries: Iterable[str]) -> list[int]:
        """The tasks of ``entries`` that name one (see :meth:`index`)."""
        return [i for i in map(self.index, entries) if i is not None]

    def name(self, index: int) -> str:
        names = self.outcome.scenario.task_names()
        return f"task {index} ({names[index]})" if 0 <= index < len(names) else f"task {index}"

    def _tasks(self) -> list[int]:
        """Every task acknowledged or dead-lettered as expected, never both."""
        expect = self.outcome.scenario.expect
        done = set(self.indexes(self.final.done))
        dead = {d.index for d in self.final.dead}
        missing = sorted(set(range(len(self.reference))) - done - dead)
        for i in missing:
            self.problems.append(f"{self.name(i)} was never acknowledged nor dead-lettered")
        for i in sorted(done & dead):
            self.problems.append(f"{self.name(i)} was both acknowledged and dead-lettered")
        unexpected = dead - set(expect.dead) if not expect.allow_dead else set()
        for i in sorted(unexpected):
            self.problems.append(f"{self.name(i)} was dead-lettered, which the scenario forbids")
        for i in sorted(set(expect.dead) - dead):
            self.problems.append(f"{self.name(i)} should have been dead-lettered but was not")
        self._job_counters(len(self.final.done), len(self.final.dead))
        return missing

    def _job_counters(self, n_done: int, n_dead: int) -> None:
        job = self.final.job or {}
        state = job.get("state")
        if state not in FINISHED_STATES:
            self.problems.append(f"the job ended in state {state!r}, not done or failed")
        for field, actual in (("tasks_done", n_done), ("tasks_failed", n_dead)):
            if field in job and job[field] != str(actual):
                self.problems.append(
                    f"the job hash says {field}={job[field]}, Redis holds {actual}"
                )

    def _counts(self) -> tuple[list[WordDiff], list[str]]:
        dead = {d.index for d in self.final.dead}
        expected = _total(self.reference, [i for i in range(len(self.reference)) if i not in dead])
        diffs = diff_counts(expected, self.final.counts)
        known = set().union(*self.reference) if self.reference else set()
        foreign = sorted(w for w in self.final.counts if w not in known)
        if diffs:
            shown = ", ".join(f"{d.word!r}: {d.actual} not {d.expected}" for d in diffs[:5])
            self.problems.append(
                f"{len(diffs)} word count(s) differ from the serial count: {shown}"
            )
        if foreign:
            self.problems.append(f"{len(foreign)} word(s) in no input: {foreign[:5]!r}")
        return diffs, foreign

    def _exactly_once(self) -> list[int]:
        """Replay the history: an accepted commit of a task already acknowledged in the
        same Redis run is a duplicate.

        A failover of a replicated group is such a restart whose moment is not known: a
        commit reported between the fault's start and the nemesis' read of the settled
        master is indeterminate too (:func:`faults.replication_check.uncertain`).

        At each restart the nemesis records the acknowledged set Redis came back with,
        read before any client could write, and when it started (``restart_at``): from
        then on the acknowledged set is exactly that. A commit invoked before a restart
        and reported after it may have been applied by either server: it is left out
        (indeterminate). A task counted twice that way still shows in the word-for-word
        comparison with the serial count.
        """
        acked: set[str] = set()
        invoked: dict[str, float] = {}
        doubled: set[int] = set()
        restart_at = -1.0
        moving = replication.uncertain(self.outcome.history)
        for at, op in _timeline(self.outcome.history):
            if op.process == NEMESIS and "done_after" in op.value:
                restart_at, acked = at, {str(e) for e in op.value["done_after"]}
            elif op.type == "invoke":
                invoked[op.process] = op.time
            elif op.type == "ok":
                if invoked.pop(op.process, op.time) < restart_at or moving(op.time):
                    continue  # applied by the old server or the new: indeterminate
                entries = [str(e) for e in op.value.get("entries") or []]
                doubled.update(self.indexes(e for e in entries if e in acked))
                acked.update(entries)
        for i in sorted(doubled):
            self.problems.append(f"{self.name(i)} was committed twice (accepted twice)")
        lost = sorted(e for e in acked if e not in self.final.done)
        if lost:
            self.problems.append(f"acknowledged commits lost without a Redis restart: {lost}")
        return sorted(doubled)

    def _samples(self) -> int:
        """Stream mode: each sample's counts are those of exactly its acknowledged tasks.
        MapReduce mode (``engine.mapreduce``): a word appears only with its final count."""
        bad = 0
        mapreduce = (self.final.job or {}).get("mode") == "mapreduce"
        final = _total(self.reference, self.indexes(self.final.done))
        for sample in self.outcome.samples:
            if mapreduce:
                diffs = [d for d in diff_counts(final, sample.counts) if d.actual]
            else:
                expected = _total(self.reference, self.indexes(sample.done))
                diffs = diff_counts(expected, sample.counts)
            if diffs:
                bad += 1
                if bad <= 3:
                    self.problems.append(
                        f"sample at {sample.time:.3f} s: counts do not match the "
                        f"{len(sample.done)} acknowledged task(s): {len(diffs)} word(s) "
                        f"differ, e.g. {diffs[0].word!r}: {diffs[0].actual} not {diffs[0].expected}"
                    )
        return bad

    def _liveness(self) -> None:
        out = self.outcome
        if out.driver_failure:
            self.problems.append(f"liveness: {out.driver_failure}")
            return
        if out.stalled:
            self.problems.append(f"liveness: not finished within liveness_s: {out.stalled}")
            return
        if out.finished_at is None:
            self.problems.append("liveness: the job was never seen finished")
            return
        late = out.finished_at - out.quiet_at
        if late > out.scenario.liveness_s * out.load_factor:
            self.problems.append(
                f"liveness: the job finished {late:.1f} s after the last fault, more than "
                f"liveness_s={out.scenario.liveness_s:g}{scaled(out.load_factor)}"
            )

    def _quitters(self) -> None:
        """No worker quits on its own while the job is unfinished.

        A worker must work until the job is finished: one that leaves early strands the
        tasks it would have stolen, and only the driver's respawning hides that. Workers
        a fault crashed, raised in or hung are excused, and so is every worker of a run
        where Redis lost data (a restart can undo a finish a worker already saw). The
        evidence is a sample that still saw the job unfinished ``QUIT_SLACK_S`` or more
        after the quit (a worker sees the end a little before the sampler does), not the
        time the sampler first saw it finished: while Redis is paused the sampler sees
        nothing, and a worker that read the end just before the pause is not early. No
        worker can have seen the end before the last accepted commit began.
        """
        out = self.outcome
        if any(f.kind.loses_data for f in out.fired):
            return
        stopped = {f.process for f in out.fired}
        unfinished = [s.time for s in out.samples if s.state not in FINISHED_STATES]
        last_commit = _last_accepted_commit(out)
        early = [
            op for op in out.history.select(h.QUIT)
            if op.process not in stopped
            and (out.finished_at is None or op.time < last_commit
                 or any(t >= op.time + QUIT_SLACK_S for t in unfinished))
        ]  # fmt: skip
        if early:
            first, end = early[0], out.finished_at
            ended = "never" if end is None else f"at {end:.3f} s"
            self.problems.append(
                f"liveness: {len(early)} worker(s) quit while the job was unfinished, first "
                f"{first.process} at {first.time:.3f} s (the job finished {ended})"
            )


def _ended_cleanly(outcome: Outcome) -> bool:
    return any(d.exit_code == 0 for d in outcome.drivers)


def _with_replication_rule(outcome: Outcome, verdict: Verdict) -> Verdict:
    """The replication rule holds whatever the user got: with --sync-replicas and kills
    only, an acknowledged commit lost in a failover is the engine's failure even when the
    job was delivered before the rollback."""
    found = replication.problems(outcome)
    if not found:
        return verdict
    return dataclasses.replace(verdict, status="invalid", problems=(*verdict.problems, *found))


def _rolled_back_after_result(outcome: Outcome, final: FinalState) -> bool:
    """Redis came back from a restart with the job unfinished after a driver had found it
    finished and gone for its result: what Redis holds at the end is an older job (a
    snapshot's rollback) than the one whose counts the user got, so what the user got is
    what to judge (workers may still redo the lost commits, into a Redis whose later
    state nobody reads)."""
    if final.job is not None and final.job.get("state") in FINISHED_STATES:
        return False
    results = [op.time for op in outcome.history
               if op.f == h.RESULT and op.type == "ok" and op.process != NEMESIS]  # fmt: skip
    restarts = [float(op.value.get("restart_at", op.time)) for op in outcome.history
                if op.process == NEMESIS and op.type == "ok"
                and "done_after" in op.value]  # fmt: skip
    return bool(results) and any(at > min(results) for at in restarts)


def _judge_delivered(outcome: Outcome, reference: list[Counter[str]]) -> Verdict:
    """Redis lost the job after the driver delivered its result and exited cleanly: judge
    what the user got (the driver's ``--output``) against the serial count. What only
    Redis could tell (acknowledgements, dead letters) is gone with it."""
    delivered = outcome.delivered or {}
    diffs = diff_counts(_total(reference, list(range(len(reference)))), delivered)
    if not diffs:
        return Verdict("valid")
    shown = ", ".join(f"{d.word!r}: {d.actual} not {d.expected}" for d in diffs[:5])
    return Verdict("invalid", (
        f"the driver delivered {len(diffs)} word count(s) that differ from the serial count "
        f"(Redis lost the job after the end, or a failover without sync rolled it back, "
        f"so its output was judged): {shown}",
    ), tuple(diffs))  # fmt: skip


def _embedded_gave_up(outcome: Outcome) -> tuple[str, ...]:
    """Why a driver with its own embedded Redis failed its liveness bound, if it did: its
    Redis, and with it the job's state, is the engine's, so an unreadable end is the
    engine's failure, not one the run could not judge."""
    if not outcome.scenario.settings.embedded:
        return ()
    why = [f"liveness: {outcome.driver_failure}"] if outcome.driver_failure else []
    if outcome.stalled:
        why.append(f"liveness: not finished within liveness_s: {outcome.stalled}")
    return tuple(f"{w} (embedded Redis; its final state was never read)" for w in why)


def _timeline(history: Iterable[Op]) -> list[tuple[float, Op]]:
    """Commits and Redis restarts in the order they took effect: a restart at the moment
    the server started (``restart_at``), which precedes the nemesis' report of it and
    any commit accepted by the new server."""
    events = [(op.time, 1, op) for op in history if op.f == h.COMMIT]
    events += [
        (float(op.value.get("restart_at", op.time)), 0, op)
        for op in history
        if op.process == NEMESIS and op.type == "ok" and "done_after" in op.value
    ]
    return [(at, op) for at, _, op in sorted(events, key=lambda e: (e[0], e[1], e[2].index))]


def _last_accepted_commit(outcome: Outcome) -> float:
    """When the last accepted commit began: the job cannot have finished before it, so a
    worker that quit earlier quit early, whatever the sampler saw (0 if none)."""
    invoked: dict[str, float] = {}
    last = 0.0
    for op in outcome.history.select(h.COMMIT):
        if op.type == "invoke":
            invoked[op.process] = op.time
        elif op.type == "ok" and op.process in invoked:
            last = max(last, invoked.pop(op.process))
    return last


def _entry_indexes(outcome: Outcome, final: FinalState) -> dict[str, int]:
    """Entry ID -> task index, from the final stream and from delivery reports."""
    entries = dict(final.entries)
    for op in outcome.history:
        if op.f in (h.DELIVER, h.CLAIM) and "entry" in op.value and "index" in op.value:
            entries.setdefault(str(op.value["entry"]), int(op.value["index"]))
    for dead in final.dead:
        entries.setdefault(dead.entry, dead.index)
    return entries


def _total(reference: list[Counter[str]], indexes: list[int]) -> Counter[str]:
    total: Counter[str] = Counter()
    for i in indexes:
        total.update(reference[i])
    return total


def diff_counts(expected: Counter[str] | dict[str, int], actual: dict[str, int]) -> list[WordDiff]:
    """Every word whose count differs, sorted by the word."""
    words = sorted(set(expected) | set(actual))
    return [
        WordDiff(w, expected.get(w, 0), actual.get(w, 0))
        for w in words
        if expected.get(w, 0) != actual.get(w, 0)
    ]
