"""The checker fed hand-made outcomes: right ones pass, wrong ones are named precisely.

No Redis: an :class:`Outcome` is plain data, so each test builds the final state, the
history and the samples a run would have produced, then breaks one thing.
"""

from __future__ import annotations

import dataclasses

import pytest

from faults.checker import WordDiff, check
from faults.db import DeadLetter, FinalState, Sample
from faults.history import History, Op
from faults.nemesis import FiredFault
from faults.outcome import DriverRun, Outcome
from faults.scenario import Dataset, Expect, Fault, FileSpec, Scenario

FILES = (FileSpec("a.txt", b"one two two"), FileSpec("b.txt", b"two three caf\xff"))
TRUE_COUNTS = {"one": 1, "two": 3, "three": 1, "caf\udcff": 1}
ENTRIES = {"1-0": 0, "2-0": 1}


def good_outcome(**scenario_fields: object) -> Outcome:
    """What a correct run of two tasks, each committed once by its own worker, looks like."""
    scenario = Scenario(name="hand", dataset=Dataset(files=FILES), **scenario_fields)  # type: ignore[arg-type]
    history = History(start=0.0)
    for n, entry in enumerate(ENTRIES, start=1):
        process = f"worker-{n}"
        value = {"entries": [entry], "indexes": [ENTRIES[entry]]}
        history.add("ok", process, "deliver", {"entry": entry, "index": ENTRIES[entry]})
        history.add("invoke", process, "commit", value)
        history.add("ok", process, "commit", value)
    final = FinalState(
        counts=dict(TRUE_COUNTS),
        done=frozenset(ENTRIES),
        dead=(),
        job={"state": "done", "tasks_done": "2", "tasks_failed": "0"},
        entries=dict(ENTRIES),
    )
    samples = [
        Sample(0.1, frozenset(), {}, "ready"),
        Sample(0.2, frozenset({"1-0"}), {"one": 1, "two": 2}, "ready"),
        Sample(0.3, frozenset(ENTRIES), dict(TRUE_COUNTS), "done"),
    ]
    return Outcome(
        scenario, "process", "job-1", history, final=final, samples=samples,
        drivers=[DriverRun(100, 0.0, 0.5, 0)], finished_at=0.3,
    )  # fmt: skip


def with_final(outcome: Outcome, **changes: object) -> Outcome:
    assert outcome.final is not None
    outcome.final = dataclasses.replace(outcome.final, **changes)  # type: ignore[arg-type]
    return outcome


def test_a_correct_outcome_is_valid() -> None:
    verdict = check(good_outcome())
    assert verdict.status == "valid", verdict.problems
    assert verdict.exit_code == 0


def test_wrong_counts_name_the_words() -> None:
    counts = {**TRUE_COUNTS, "two": 5, "ghost": 2}
    del counts["one"]
    verdict = check(with_final(good_outcome(), counts=counts))
    assert verdict.status == "invalid"
    assert verdict.exit_code == 1
    assert set(verdict.words) == {
        WordDiff("ghost", 0, 2), WordDiff("one", 1, 0), WordDiff("two", 3, 5),
    }  # fmt: skip
    assert verdict.foreign_words == ("ghost",)
    assert any("'ghost'" in p for p in verdict.problems)


def test_a_missing_task_is_named() -> None:
    outcome = with_final(
        good_outcome(),
        done=frozenset({"1-0"}),
        counts={"one": 1, "two": 2},
        job={"state": "done", "tasks_done": "1", "tasks_failed": "0"},
    )
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert verdict.missing_tasks == (1,)
    assert any("task 1 (b.txt) was never acknowledged" in p for p in verdict.problems)


def test_a_task_committed_twice_is_named() -> None:
    outcome = good_outcome()
    value = {"entries": ["2-0"], "indexes": [1]}
    outcome.history.add("invoke", "worker-9", "commit", value)
    outcome.history.add("ok", "worker-9", "commit", value)
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert verdict.doubled_tasks == (1,)
    assert any("task 1 (b.txt) was committed twice" in p for p in verdict.problems)


def test_a_commit_redone_after_redis_lost_it_is_not_a_duplicate() -> None:
    outcome = good_outcome()
    outcome.history.add("ok", "nemesis", "redis-kill", {"done_after": ["1-0"]})
    value = {"entries": ["2-0"], "indexes": [1]}
    outcome.history.add("invoke", "worker-9", "commit", value)
    outcome.history.add("ok", "worker-9", "commit", value)
    assert check(outcome).status == "valid"


def test_a_commit_in_flight_across_a_restart_is_not_a_duplicate() -> None:
    """Invoked before the restart, executed by a retry that landed before the nemesis
    read the restored set, reported after: one commit, not two."""
    outcome = good_outcome()
    history = History(start=0.0)
    for op in list(outcome.history)[:4]:  # task 0 committed; task 1 delivered, invoked
        history.add(op.type, op.process, op.f, op.value)
    history.add("invoke", "worker-2", "commit", {"entries": ["2-0"], "indexes": [1]})
    history.add("ok", "nemesis", "redis-kill", {"done_after": ["1-0", "2-0"]})
    history.add("ok", "worker-2", "commit", {"entries": ["2-0"], "indexes": [1]})
    outcome.history = history
    assert check(outcome).status == "valid"


def retimed(outcome: Outcome, ops: list[tuple[str, str, str, dict[str, object]]]) -> Outcome:
    """``outcome`` with ``ops`` appended, every operation one tenth of a second apart."""
    old = [(op.type, op.process, op.f, op.value) for op in outcome.history.ops]
    outcome.history = History(
        [Op(i, t, p, f, dict(v), i / 10) for i, (t, p, f, v) in enumerate([*old, *ops])],  # type: ignore[arg-type]
        start=0.0,
    )
    return outcome


def test_a_commit_redone_before_the_restart_is_reported_is_not_a_duplicate() -> None:
    """The false alarm of issue 12: Redis restarted without task 1's commit; a worker
    committed it again on the new server before the nemesis reported the restart. The
    restart took effect when the server started, not when it was reported."""
    value = {"entries": ["2-0"], "indexes": [1]}
    outcome = retimed(good_outcome(), [
        ("invoke", "nemesis", "redis-kill", {}),
        ("invoke", "worker-9", "commit", value),
        ("ok", "worker-9", "commit", value),
        ("ok", "nemesis", "redis-kill", {"done_after": ["1-0"], "restart_at": 0.65}),
    ])  # fmt: skip
    assert check(outcome).status == "valid"
    outcome.history = History(
        [op if "restart_at" not in op.value else dataclasses.replace(op, value={
            "done_after": ["1-0", "2-0"], "restart_at": 0.65})  # it kept the commit
         for op in outcome.history.ops], start=0.0,
    )  # fmt: skip
    verdict = check(outcome)
    assert any("task 1 (b.txt) was committed twice" in p for p in verdict.problems)


def test_a_non_atomic_sample_is_caught() -> None:
    outcome = good_outcome()
    outcome.samples.insert(2, Sample(0.25, frozenset({"1-0"}), {"one": 1, "two": 3}, "ready"))
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert verdict.bad_samples == 1
    assert any("sample at 0.250 s" in p and "'two': 3 not 2" in p for p in verdict.problems)


def test_unexpected_and_missing_dead_letters() -> None:
    dead = (DeadLetter("2-0", 1, "gave up", "w"),)
    outcome = with_final(
        good_outcome(expect=Expect(dead=(0,))),
        done=frozenset({"1-0"}),
        dead=dead,
        counts={"one": 1, "two": 2},
        job={"state": "failed", "tasks_done": "1", "tasks_failed": "1"},
    )
    problems = check(outcome).problems
    assert any(
        "task 1 (b.txt) was dead-lettered, which the scenario forbids" in p for p in problems
    )
    assert any("task 0 (a.txt) should have been dead-lettered" in p for p in problems)


def test_expected_dead_letters_leave_the_rest_exact() -> None:
    outcome = with_final(
        good_outcome(expect=Expect(dead=(1,))),
        done=frozenset({"1-0"}),
        dead=(DeadLetter("2-0", 1, "gave up", "w"),),
        counts={"one": 1, "two": 2},
        job={"state": "failed", "tasks_done": "1", "tasks_failed": "1"},
    )
    outcome.samples = outcome.samples[:2]
    history = History(start=0.0)
    for op in outcome.history:
        if op.process == "worker-1":  # worker 2 never committed task 1
            history.add(op.type, op.process, op.f, op.value)
    outcome.history = history
    verdict = check(outcome)
    assert verdict.status == "valid", verdict.problems


def test_liveness_after_the_last_fault() -> None:
    outcome = good_outcome(liveness_s=2.0)
    outcome.fired = [
        FiredFault(0, Fault.parse("worker.after_read#1:hang"), "worker-1", "x", {}, 1.0, 1.0)
    ]
    outcome.finished_at = 3.5
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("2.5 s after the last fault" in p for p in verdict.problems)


def test_liveness_stretches_with_the_load_the_run_saw() -> None:
    """A run on a busy machine gets a bound scaled by its recorded load factor, no more."""
    outcome = good_outcome(liveness_s=2.0)
    outcome.fired = [
        FiredFault(0, Fault.parse("worker.after_read#1:hang"), "worker-1", "x", {}, 1.0, 1.0)
    ]
    outcome.finished_at, outcome.load_factor = 3.5, 1.5
    assert check(outcome).status == "valid"  # 2.5 s late, within 2 s x 1.5
    outcome.finished_at = 4.5
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("x1.5 for the machine's load" in p for p in verdict.problems)


def test_a_driver_that_gives_up_is_invalid() -> None:
    outcome = with_final(good_outcome(), job={"state": "ready"})
    outcome.driver_failure = "the driver exited with status 2: error: workers exhausted"
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("workers exhausted" in p for p in verdict.problems)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"error": "timeout: the job did not finish within 5 s"}, "timeout"),
        ({"final": None}, "could not be read"),
    ],
)
def test_unjudgeable_runs_are_unknown(change: dict[str, object], reason: str) -> None:
    outcome = good_outcome()
    for name, value in change.items():
        setattr(outcome, name, value)
    verdict = check(outcome)
    assert verdict.status == "unknown"
    assert verdict.exit_code == 2
    assert reason in verdict.problems[0]


def test_data_lost_after_the_end_is_unknown() -> None:
    verdict = check(with_final(good_outcome(), job=None, done=frozenset(), counts={}))
    assert verdict.status == "unknown"
    assert "lost after the job finished" in verdict.problems[0]


def test_data_lost_after_the_end_is_judged_from_what_the_driver_delivered() -> None:
    outcome = with_final(good_outcome(), job=None, done=frozenset(), counts={})
    outcome.delivered = dict(TRUE_COUNTS)
    assert check(outcome).status == "valid"
    outcome.delivered = {**TRUE_COUNTS, "two": 6}
    verdict = check(outcome)
    assert verdict.status == "invalid" and verdict.words == (WordDiff("two", 3, 6),)
    outcome.drivers = [DriverRun(100, 0.0, 0.5, 86)]  # crashed: its output proves nothing
    assert check(outcome).status == "unknown"


def test_a_rollback_after_the_driver_went_for_its_result_is_judged_from_its_output() -> None:
    """Seen in a hunt: the driver found the job done and read its result; then Redis
    came back from a snapshot with task 1 unacknowledged and the job 'ready'. The user
    got the counts the driver read, so those are judged, not the rolled-back Redis."""
    outcome = good_outcome()
    outcome.history.add("ok", "driver-100", "result", {"job": "job-1"})
    later = outcome.history.now() + 1.0
    outcome.history.add("ok", "nemesis", "redis-kill",
                        {"done_after": ["1-0"], "restart_at": later})  # fmt: skip
    rolled_back = {"state": "ready", "tasks_done": "1", "tasks_failed": "0"}
    with_final(outcome, job=rolled_back, done=frozenset({"1-0"}), counts={"one": 1, "two": 2})
    assert check(outcome).status == "unknown"  # nothing delivered: nothing to judge
    outcome.delivered = dict(TRUE_COUNTS)
    assert check(outcome).status == "valid"
    outcome.delivered = {**TRUE_COUNTS, "two": 2}
    assert check(outcome).status == "invalid"
    before = good_outcome()  # the same rollback before any driver found the job done
    before.history.add("ok", "nemesis", "redis-kill",
                       {"done_after": ["1-0"], "restart_at": later})  # fmt: skip
    with_final(before, job=rolled_back, done=frozenset({"1-0"}), counts={"one": 1, "two": 2})
    before.delivered = dict(TRUE_COUNTS)
    assert check(before).status == "invalid"  # an unfinished job is the engine's failure


def test_an_acknowledged_entry_of_no_task_is_invalid_not_a_crash() -> None:
    outcome = with_final(good_outcome(), done=frozenset({"1-0", "2-0", "77-0"}))
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("entry 77-0 was acknowledged but is in no task's record" in p
               for p in verdict.problems)  # fmt: skip


def test_an_entry_naming_a_task_out_of_range_is_invalid_not_an_index_error() -> None:
    """The IndexError the checker once raised: a sample acknowledging an entry whose task
    index is outside the job's tasks reached ``reference[i]``."""
    outcome = with_final(good_outcome(), entries={**ENTRIES, "3-0": 2, "4-0": -1})
    outcome.samples.insert(1, Sample(0.15, frozenset({"3-0", "4-0"}), {}, "ready"))
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert not any("checker failed" in p for p in verdict.problems)
    assert any("entry 3-0 was acknowledged but names task 2" in p for p in verdict.problems)
    assert any("entry 4-0 was acknowledged but names task -1" in p for p in verdict.problems)


def quit_at(outcome: Outcome, time: float, process: str = "worker-7") -> Outcome:
    """``outcome`` with a worker quitting on its own at ``time`` (its other operations
    retimed to the first tenth of a second, in order)."""
    ops = [dataclasses.replace(op, time=op.index / 100) for op in outcome.history.ops]
    ops.append(Op(len(ops), "ok", process, "quit", {}, time))
    outcome.history = History(ops, start=0.0)
    return outcome


def test_a_worker_that_quits_before_the_end_is_invalid() -> None:
    """The early-quit rule: a worker leaving while the job is unfinished strands tasks."""
    outcome = quit_at(good_outcome(), 1.0)
    outcome.samples.insert(2, Sample(4.9, frozenset({"1-0"}), {"one": 1, "two": 2}, "ready"))
    outcome.samples[-1] = dataclasses.replace(outcome.samples[-1], time=5.0)
    outcome.finished_at = 5.0
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("1 worker(s) quit while the job was unfinished, first worker-7" in p
               for p in verdict.problems)  # fmt: skip


def test_a_quit_the_sampler_could_not_see_past_is_not_early() -> None:
    """Redis paused right after the last commit: the sampler first saw the end 2 s later,
    but no sample saw the job unfinished after the worker quit (a soak's false alarm)."""
    outcome = quit_at(good_outcome(), 0.5)
    outcome.samples[-1] = dataclasses.replace(outcome.samples[-1], time=2.5)
    outcome.finished_at = 2.5
    assert check(outcome).status == "valid"


def test_a_quit_is_excused_after_the_end_for_faulted_workers_and_after_data_loss() -> None:
    late = quit_at(good_outcome(), 4.5)
    late.finished_at = 5.0  # within QUIT_SLACK_S of the end: it saw the end first
    assert check(late).status == "valid"
    for fault, process in (("worker.after_read#1:crash", "worker-7"),
                           ("commit#1:redis-wipe", "worker-1")):  # fmt: skip
        outcome = quit_at(good_outcome(), 1.0)
        outcome.finished_at = 5.0
        outcome.fired = [FiredFault(0, Fault.parse(fault), process, "x", {}, 0.0, 0.0)]
        assert not any("quit" in p for p in check(outcome).problems), fault


def test_job_counters_and_state_must_agree_with_redis() -> None:
    outcome = with_final(good_outcome(), job={"state": "ready", "tasks_done": "3",
                                              "tasks_failed": "0"})  # fmt: skip
    problems = check(outcome).problems
    assert any("the job ended in state 'ready'" in p for p in problems)
    assert any("tasks_done=3, Redis holds 2" in p for p in problems)


def test_an_acknowledgement_lost_without_a_restart_is_invalid() -> None:
    outcome = with_final(good_outcome(), done=frozenset({"1-0"}), counts={"one": 1, "two": 2})
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any("acknowledged commits lost without a Redis restart: ['2-0']" in p
               for p in verdict.problems)  # fmt: skip


def test_a_task_both_acknowledged_and_dead_lettered() -> None:
    job = {"state": "failed", "tasks_done": "2", "tasks_failed": "1"}
    dead = (DeadLetter("2-0", 1, "gave up", "w"),)
    outcome = with_final(good_outcome(expect=Expect(allow_dead=True)), dead=dead, job=job)
    verdict = check(outcome)
    assert any("task 1 (b.txt) was both acknowledged and dead-lettered" in p
               for p in verdict.problems)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stalled": "no change for 20 s"}, "not finished within liveness_s: no change"),
        ({"finished_at": None}, "the job was never seen finished"),
    ],
)
def test_liveness_failures_are_invalid(change: dict[str, object], reason: str) -> None:
    outcome = good_outcome()
    for name, value in change.items():
        setattr(outcome, name, value)
    verdict = check(outcome)
    assert verdict.status == "invalid"
    assert any(reason in p for p in verdict.problems), verdict.problems
