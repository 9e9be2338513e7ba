"""A failed run in words a student understands: which fault, which file, what went wrong,
and the likely cause.

The file a worker held is read from the history (the path in the reply to its read), the
damage from the counts (a file whose words are all short by its counts was never counted;
all over by its counts, counted again), and the cause from both together.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from faults.grade.draw import READS
from faults.grade.judge import Verdict
from faults.grade.run import RunResult
from faults.grade.schedule import Fault

ACTIONS = {
    "crash": "{who} was killed (SIGKILL)",
    "stall": "{who} was stopped (SIGSTOP) for {ms} ms, then resumed",
    "slow": "{who} was slowed down by {ms} ms",
    "hang": "{who} hung for ever",
    "redis-restart": "Redis was killed and restarted {ms} ms later",
    "redis-wipe": "Redis was killed and restarted empty {ms} ms later",
    "redis-pause": "Redis was frozen for {ms} ms",
}


def file_name(files: list[Path], context: object) -> str | None:
    """'file 3 of 4' for the first input path found in a command's reply, if any."""
    text = json.dumps(context)
    for i, path in enumerate(files, start=1):
        if str(path) in text:
            return f"file {i} of {len(files)}"
    return None


def fault_words(fault: Fault, files: list[Path], context: object) -> str:
    """E.g. 'right after worker#1's XREADGROUP #1 returned file 3 of 4, worker#1 was killed
    (SIGKILL)'."""
    if fault.timed is not None:
        child, ms = fault.timed
        who = f"the command's child process #{child}"
        return f"{ms} ms after the start, " + ACTIONS[fault.do].format(who=who, ms=fault.ms)
    who, _, where = fault.at.partition(".")
    phase, _, rest = where.partition(":")
    command, _, nth = rest.partition("#")
    moment = "right after" if phase == "after" else "just before"
    held = file_name(files, context.get("result") if isinstance(context, dict) else None)
    got = f" returned {held}" if held and phase == "after" else ""
    action = ACTIONS[fault.do].format(who=who, ms=fault.ms)
    return f"{moment} {who}'s {command} #{nth}{got}, {action}"


def damaged_files(verdict: Verdict, per_file: list[Counter[str]]) -> tuple[list[int], list[int]]:
    """(files never counted, files counted again), 1-based."""
    lost, again = [], []
    for i, counts in enumerate(per_file, start=1):
        if not counts:
            continue
        diffs = [verdict.wrong.get(w, (n, n)) for w, n in counts.items()]
        if all(got - exp <= -counts[w] for w, (exp, got) in zip(counts, diffs, strict=True)):
            lost.append(i)
        elif all(got - exp >= counts[w] for w, (exp, got) in zip(counts, diffs, strict=True)):
            again.append(i)
    return lost, again


def acked_then_died(result: RunResult) -> bool:
    """Whether a killed worker had an XACK answered since its last read: it acknowledged
    a file it then never committed."""
    for fired in result.fired:
        if fired.fault.do != "crash":
            continue
        since_read: list[str] = []
        for op in result.history.ops:
            if op.value.get("pid") != fired.pid or op.type != "ok":
                continue
            since_read = [] if op.f in READS else [*since_read, op.f]
        if "XACK" in since_read:
            return True
    return False


def cause(result: RunResult, verdict: Verdict, lost: list[int], again: list[int]) -> str:
    kinds = {f.fault.do for f in result.fired}
    points = " ".join(f.fault.at for f in result.fired)
    over = lost == [] and any(got > exp for exp, got in verdict.wrong.values())
    under = again == [] and any(got < exp for exp, got in verdict.wrong.values())
    if verdict.kind == "hang":
        alive = ", ".join(a for a in result.alive if not a.startswith("process-")) or "?"
        still = f"still running at the deadline: {alive}"
        if not result.fired:
            return f"it does not exit even without faults ({still})"
        if not any(op.f in ("XAUTOCLAIM", "XCLAIM") for op in result.history.ops):
            return (
                "no worker ever claims the file of a worker that died (XAUTOCLAIM), so it "
                f"stays pending and the others wait for it for ever ({still})"
            )
        return f"a process waits for something that never comes, e.g. a pending file ({still})"
    if verdict.kind == "atomicity":
        return "adding the counts and acknowledging the file are not one atomic step"
    if verdict.kind == "foreign":
        return "words were stored that no input holds (decoding or splitting differs)"
    if (lost or under) and acked_then_died(result):
        return "the file was acknowledged before its counts were added"
    steals = any(op.f in ("XAUTOCLAIM", "XCLAIM") for op in result.history.ops)
    if (lost or under) and steals:
        return (
            "the other workers exited while that file was still pending with the dead "
            "worker: an empty read does not mean the job is done (wait until nothing is "
            "pending, claiming stalled files)"
        )
    if lost or under:
        return (
            "no worker took over the file of the worker that stopped: a stalled file must be "
            "claimed (XAUTOCLAIM) by another worker before the workers exit"
        )
    if "client" in points:
        return "running the client again added the files again: the bootstrap is not idempotent"
    if kinds & {"redis-restart", "redis-pause"} and "stall" not in kinds:
        return (
            "work done before Redis went away was done again after it came back: a commit "
            "retried must change nothing the second time (add the counts only when XACK "
            "returns 1, in one atomic step: a Redis Function)"
        )
    if "stall" in kinds:
        return (
            "a commit of a file that was already acknowledged still added its counts: add them "
            "only when XACK returns 1, in the same atomic step (a Redis Function)"
        )
    if again or over:
        return (
            "the counts were added but the file was not acknowledged in the same atomic step, "
            "so another worker counted it again"
        )
    return "the counts differ from a serial count"


def explain(result: RunResult, verdict: Verdict, per_file: list[Counter[str]]) -> str:
    """One or two sentences: the faults, the damage, the cause."""
    n = len(result.files)
    setting = f"{n} file(s) ({dataset(result.example.files)}), {result.example.workers} worker(s)"
    faults = "; ".join(fault_words(f.fault, result.files, f.context) for f in result.fired)
    faults = faults or "no fault fired"
    lost, again = damaged_files(verdict, per_file) if verdict.wrong else ([], [])
    damage = []
    if lost:
        damage.append(f"{_files(lost, n)} never counted")
    if again:
        damage.append(f"{_files(again, n)} counted twice")
    what = "; ".join(damage) or verdict.detail
    if damage:
        what += f" ({verdict.detail})"
    return (
        f"With {setting}: {faults}. Result: {what}, because {cause(result, verdict, lost, again)}."
    )


def dataset(files: tuple[str, ...]) -> str:
    """The files in a few words each: 'the the the' (3 words), empty, ..."""
    shown = []
    for text in files:
        words = text.split()
        head = " ".join(words[:3]) + (" ..." if len(words) > 3 else "")
        count = f"{len(words)} word{'s' * (len(words) != 1)}"
        shown.append(f"{head!r} ({count})" if words else "empty")
    return "; ".join(shown)


def _files(numbers: list[int], total: int) -> str:
    if len(numbers) == 1:
        return f"file {numbers[0]} of {total} was"
    return "files " + ", ".join(map(str, numbers)) + f" of {total} were"
