"""The grader's pieces that need no submission run: templates, scenario JSON, options,
the wording of a counterexample, the JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from faults.grade import report
from faults.grade.explain import explain
from faults.grade.grade import Grade
from faults.grade.judge import Verdict, judge
from faults.grade.options import GradeError, GradeOptions, render
from faults.grade.points import Fired
from faults.grade.run import RunResult
from faults.grade.schedule import Example, Fault, load, save
from faults.grade.search import PropertyResult
from faults.history import History


def test_render_fills_placeholders_and_keeps_json_braces() -> None:
    template = '{"redis": {"port": {redis_port}, "password": "{redis_password}"}}'
    text = render(template, {"redis_port": "7001", "redis_password": "pw"}, "t")
    assert json.loads(text) == {"redis": {"port": 7001, "password": "pw"}}


def test_render_names_an_unknown_placeholder() -> None:
    with pytest.raises(GradeError, match=r"unknown placeholder \{redis_pass\}"):
        render("{redis_pass}", {"redis_password": "x"}, "--env PW")


def test_fault_point_syntax_is_checked() -> None:
    assert str(Fault("worker#2.after:XREADGROUP#1", "stall", 900)) == (
        "worker#2.after:XREADGROUP#1:stall=900"
    )
    with pytest.raises(GradeError, match=r"expected e\.g\. worker#2"):
        Fault("worker2.after:XREADGROUP", "crash")
    with pytest.raises(GradeError, match="fault action"):
        Fault("client.before:XADD#1", "explode")  # type: ignore[arg-type]


def test_scenario_round_trips(tmp_path: Path) -> None:
    options = GradeOptions(env=(("WC_CONFIG", "c.json"),), configs=(("c.json", "{workers}"),))
    example = Example("worker-crash", ("a b", ""), 2, (Fault("worker#1.after:XACK#1", "crash"),))
    save(str(tmp_path / "s.json"), "/sub", options, example)
    assert load(str(tmp_path / "s.json")) == ("/sub", options, example)
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(GradeError, match="not a grading scenario"):
        load(str(tmp_path / "other.json"))


def _result(counts: Counter[str], fired: list[Fired], files: list[Counter[str]]) -> RunResult:
    paths = [Path(f"/tmp/run/data/f{i}.txt") for i in range(1, len(files) + 1)]
    example = Example("worker-crash", tuple("" for _ in files), 2, tuple(f.fault for f in fired))
    return RunResult(example, 0, counts, paths, files, fired, History(), 1.0, "")


def test_a_lost_file_is_explained_in_plain_words() -> None:
    files = [Counter({"a": 2}), Counter({"b": 1}), Counter({"c": 1})]
    context = {"result": [["files", [["3-1", ["path", "/tmp/run/data/f3.txt"]]]]]}
    fired = [Fired(Fault("worker#1.after:XREADGROUP#1", "crash"), 1, context, 0.5)]
    result = _result(Counter({"a": 2, "b": 1}), fired, files)
    verdict = judge(result, GradeOptions())
    text = explain(result, verdict, files)
    assert "right after worker#1's XREADGROUP #1 returned file 3 of 3" in text
    assert "worker#1 was killed (SIGKILL)" in text
    assert "file 3 of 3 was never counted" in text
    assert "XAUTOCLAIM" in text


def test_a_word_in_no_input_is_its_own_failure() -> None:
    result = _result(Counter({"a": 1, "zz": 1}), [], [Counter({"a": 1})])
    assert judge(result, GradeOptions()).kind == "foreign"


def test_junit_has_one_case_per_property() -> None:
    failed = PropertyResult("straggler", 3, 2.0, 1.5, 2)
    failed.failure = (_result(Counter({"a": 2}), [], [Counter({"a": 1})]), Verdict("counts", "x"))
    grades = [
        Grade("sub/a", [PropertyResult("worker-crash", 15, 9.0), failed], 11.0),
        Grade("sub/b", [], 1.0, error="it exits with status 1 with no fault injected"),
    ]
    root = ET.fromstring(report.junit(grades, GradeOptions()))
    suites = root.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["1", "0"]
    assert suites[1].find("testcase/error") is not None
    assert "| a | FAIL | pass | **FAIL** |" in report.summary(grades)


def test_sampler_compares_counts_with_the_acknowledged_files() -> None:
    from faults.grade.sampler import Sampler

    files = [Path("/d/f1.txt"), Path("/d/f2.txt")]
    sampler = Sampler(None, "files", "g", "count", files,  # type: ignore[arg-type]
                      [Counter({"a": 2}), Counter({"b": 1})])  # fmt: skip
    entries = [[b"1-1", [b"path", b"/d/f1.txt"]], [b"2-1", [b"path", b"/d/f2.txt"]]]
    pending = [[b"2-1", b"w", 5, 1]]
    assert sampler.check([[b"a", b"2"], entries, pending, b"2-1"]) is None
    assert sampler.check([[b"a", b"2", b"b", b"1"], entries, pending, b"2-1"]) is not None
    assert sampler.check([[], entries, [], b"1-1"]) is not None  # f1 acked, not counted


def test_a_forked_child_reports_on_its_own_connection(tmp_path: Path) -> None:
    """A driver may fork its workers: the child must not share the parent's line to the
    controller (their replies got mixed, and a driver hung waiting for one)."""
    import json
    import os
    import socket
    import threading

    from faults.grade.shim import Reporter

    path = str(tmp_path / "c.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    peers: list[int] = []

    def serve() -> None:
        while len(peers) < 2:
            conn, _ = server.accept()
            reader = conn.makefile("rb")
            line = reader.readline()
            peers.append(json.loads(line)["pid"])
            conn.sendall(b'{"do": "continue"}\n')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    reporter = Reporter(path)
    os.register_at_fork(after_in_child=reporter.forget)
    reporter.ask("before:PING", {})
    child = os.fork()
    if child == 0:
        reporter.ask("before:PING", {})
        os._exit(0 if reporter.sock is not None and not reporter.dead else 1)
    _, status = os.waitpid(child, 0)
    thread.join(10)
    assert os.waitstatus_to_exitcode(status) == 0
    assert peers == [os.getpid(), child]
